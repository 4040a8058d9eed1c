"""CSV and Parquet history files: the trace format, column choice, gaps, and clear errors."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from predictor.errors import SourceError
from predictor.sources.files import FileSource, read_history_file, read_points

T0 = pd.Timestamp("2026-01-05 00:00", tz="UTC")

# The format of the real traces in ../shared/data/traces: naive bin starts, counts per bin, blank = gap.
TRACE_CSV = """timestamp,requests
2026-01-05 00:00:00,60
2026-01-05 00:01:00,120
2026-01-05 00:02:00,
2026-01-05 00:03:00,180
2026-01-05 00:04:00,240
2026-01-05 00:05:00,300
"""


def write(tmp_path, text, name="history.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_trace_of_counts_per_minute_loads_as_rates_with_the_gap_kept(tmp_path):
    history = read_history_file(write(tmp_path, TRACE_CSV), counts=True, step_s=60)

    assert str(history.index.tz) == "UTC" and history.index.freq == "60s"
    assert history.index[0] == T0
    np.testing.assert_array_equal(history.to_numpy(), [1.0, 2.0, np.nan, 3.0, 4.0, 5.0])


def test_counts_are_averaged_into_the_model_step(tmp_path):
    history = read_history_file(write(tmp_path, TRACE_CSV), counts=True, step_s=300)

    assert history.iloc[0] == pytest.approx((1 + 2 + 3 + 4) / 4)  # the mean of the present minutes
    assert history.iloc[1] == 5.0


@pytest.mark.parametrize(("bin_text", "step_s"), [("30min", 1800), ("1h", 3600)])
def test_coarse_traces_spread_each_bin_over_its_own_span(tmp_path, bin_text, step_s):
    index = pd.date_range("2000-06-05", periods=4, freq=bin_text)
    counts = ["3600", "", "7200", "3600"]
    text = "timestamp,requests\n" + "".join(
        f"{t:%Y-%m-%d %H:%M:%S},{c}\n" for t, c in zip(index, counts, strict=True)
    )

    history = read_history_file(write(tmp_path, text), counts=True, step_s=300)

    per_bin = step_s // 300
    assert len(history) == 4 * per_bin
    expected = np.repeat([3600 / step_s, np.nan, 7200 / step_s, 3600 / step_s], per_bin)
    np.testing.assert_allclose(history.to_numpy(), expected)


def test_an_empty_value_and_nan_words_are_gaps_never_zero(tmp_path):
    text = "t,v\n2026-01-05 00:00,1\n2026-01-05 00:01,\n2026-01-05 00:02,NaN\n2026-01-05 00:03,null\n"

    points = read_points(write(tmp_path, text))

    assert points.iloc[0] == 1.0 and points.iloc[1:].isna().all()


def test_columns_can_be_chosen_by_name(tmp_path):
    text = "region,value,when\neu,5,2026-01-05T00:00:00Z\neu,7,2026-01-05T00:01:00Z\n"

    history = read_history_file(
        write(tmp_path, text), timestamp_column="when", value_column="value", step_s=60
    )

    assert list(history) == [5.0, 7.0] and history.index[0] == T0


def test_the_value_defaults_to_the_first_column_after_the_timestamp(tmp_path):
    text = "rate,when\n5,2026-01-05T00:00:00Z\n"

    assert read_points(write(tmp_path, text), timestamp_column="when").iloc[0] == 5.0


def test_timestamps_with_an_offset_are_converted_to_utc(tmp_path):
    text = "t,v\n2026-01-05T01:00:00+01:00,1\n2026-01-05T01:01:00+01:00,2\n"

    assert read_points(write(tmp_path, text)).index[0] == T0


def test_numeric_timestamps_are_unix_seconds(tmp_path):
    seconds = int((T0 - pd.Timestamp(0, tz="UTC")).total_seconds())
    text = f"t,v\n{seconds},1\n{seconds + 60},2\n"

    assert read_points(write(tmp_path, text)).index[0] == T0


def test_unsorted_rows_and_duplicates_are_handled(tmp_path):
    text = "t,v\n2026-01-05 00:02,3\n2026-01-05 00:00,1\n2026-01-05 00:01,2\n2026-01-05 00:01,4\n"

    history = read_history_file(write(tmp_path, text), step_s=60)

    assert list(history) == [1.0, 3.0, 3.0]  # the duplicate minute is the mean of its two rows


def test_parquet_with_native_timestamps_and_nulls(tmp_path):
    frame = pd.DataFrame(
        {"ts": pd.date_range("2026-01-05", periods=3, freq="1min"), "requests": [60.0, None, 180.0]}
    )
    path = tmp_path / "history.parquet"
    frame.to_parquet(path)

    history = read_history_file(path, counts=True, step_s=60)

    assert history.index[0] == T0
    np.testing.assert_array_equal(history.to_numpy(), [1.0, np.nan, 3.0])


def test_parquet_with_aware_timestamps(tmp_path):
    index = pd.date_range("2026-01-05 01:00", periods=2, freq="1min", tz="Europe/Paris")
    path = tmp_path / "history.pq"
    pd.DataFrame({"ts": index, "rate": [1.0, 2.0]}).to_parquet(path)

    assert read_points(path).index[0] == T0


def test_file_source_returns_the_requested_bins_with_nan_beyond_the_file(tmp_path):
    source = FileSource(write(tmp_path, TRACE_CSV), counts=True)

    history = source.fetch(T0 - pd.Timedelta(minutes=2), T0 + pd.Timedelta(minutes=8), 60)

    assert history.index[0] == T0 - pd.Timedelta(minutes=2) and len(history) == 10
    assert history.index.freq == "60s"
    assert history.iloc[:2].isna().all() and history.iloc[-2:].isna().all()
    assert history.iloc[2] == 1.0 and np.isnan(history.iloc[4])


def test_file_source_rereads_a_changed_file(tmp_path):
    path = write(tmp_path, "t,v\n2026-01-05 00:00,1\n")
    source = FileSource(path)
    assert source.fetch(T0, T0 + pd.Timedelta(minutes=1), 60).iloc[0] == 1.0

    path.write_text("t,v\n2026-01-05 00:00,2.5\n")
    os.utime(path, ns=(1, 10**18))  # a different mtime even on a coarse clock

    assert source.fetch(T0, T0 + pd.Timedelta(minutes=1), 60).iloc[0] == 2.5


def test_a_missing_file(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        read_history_file(tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="cannot read history file"):
        FileSource(tmp_path / "nope.csv").fetch(T0, T0 + pd.Timedelta(hours=1), 300)


def test_an_unknown_value_column_lists_the_columns(tmp_path):
    with pytest.raises(SourceError, match=r"no value column 'rps'; its columns are: 'timestamp', 'requests'"):
        read_history_file(write(tmp_path, TRACE_CSV), value_column="rps")


def test_an_unknown_timestamp_column_lists_the_columns(tmp_path):
    with pytest.raises(SourceError, match=r"no timestamp column 'time'; its columns are: 'timestamp'"):
        read_history_file(write(tmp_path, TRACE_CSV), timestamp_column="time")


def test_an_unparseable_timestamp_names_its_row(tmp_path):
    text = "timestamp,requests\n2026-01-05 00:00:00,1\n2026-01-05 00:01:00,2\nyesterday,3\n"

    with pytest.raises(SourceError, match=r"cannot parse timestamp 'yesterday' \(data row 3, line 4"):
        read_history_file(write(tmp_path, text))


def test_an_unparseable_value_names_its_row(tmp_path):
    text = "timestamp,requests\n2026-01-05 00:00:00,1\n2026-01-05 00:01:00,lots\n"

    with pytest.raises(SourceError, match=r"value 'lots' in column 'requests' is not a number \(data row 2"):
        read_history_file(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,requests\n", "has no rows"),
        ("", "is empty"),
        ("timestamp\n2026-01-05 00:00:00\n", "needs a timestamp column and a value column"),
    ],
)
def test_files_without_usable_rows(tmp_path, text, message):
    with pytest.raises(SourceError, match=message):
        read_history_file(write(tmp_path, text))


def test_negative_counts_name_the_file_how_many_and_when(tmp_path):
    text = "timestamp,requests\n2026-01-05 00:00:00,1\n2026-01-05 00:01:00,-4\n"

    with pytest.raises(
        SourceError, match=r"history.csv: 1 negative value\(s\), the first at 2026-01-05T00:01"
    ):
        read_history_file(write(tmp_path, text), counts=True)


def test_an_unknown_suffix(tmp_path):
    with pytest.raises(SourceError, match=r"unknown file type '.xlsx'"):
        read_history_file(write(tmp_path, TRACE_CSV, name="history.xlsx"))


def test_a_corrupt_parquet_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match=r"cannot read .*history\.parquet as parquet") as caught:
        read_history_file(write(tmp_path, "not parquet at all", name="history.parquet"))
    assert caught.value.__cause__ is not None


# --- how people write their files: units, day/month order, separators, zones, notes -------------

MINUTES = pd.date_range("2021-08-01", periods=20 * 24 * 12, freq="5min", tz="UTC")


def rows(fmt: str, times=MINUTES, sep: str = ",") -> str:
    return f"t{sep}v\n" + "".join(f"{fmt(t)}{sep}{i % 7 + 0.5}\n" for i, t in enumerate(times))


@pytest.mark.parametrize(("unit", "per_s"), [("milliseconds", 10**3), ("microseconds", 10**6)])
def test_unix_milliseconds_and_microseconds_are_told_by_their_size(tmp_path, unit, per_s):
    epoch = pd.Timestamp(0, tz="UTC")
    text = rows(lambda t: int((t - epoch).total_seconds()) * per_s)
    notes: list[str] = []
    history = read_history_file(write(tmp_path, text), notes=notes)
    assert history.index[0] == MINUTES[0] and history.index[-1] == MINUTES[-1]
    assert notes == [f"numeric timestamps read as Unix {unit} (their size tells the unit)"]


def test_numbers_that_are_not_times_are_refused_naming_the_column(tmp_path):
    text = "n,v\n" + "".join(f"{i},{i}.5\n" for i in range(50))
    with pytest.raises(SourceError, match=r"column 'n'.*not Unix times.*--timestamp-column"):
        read_history_file(write(tmp_path, text))


def test_day_first_dates_are_read_day_first_when_a_row_tells(tmp_path):
    notes: list[str] = []
    history = read_history_file(write(tmp_path, rows(lambda t: f"{t:%d/%m/%Y %H:%M}")), notes=notes)
    assert history.index[0] == MINUTES[0] and history.index[-1] == MINUTES[-1]
    assert history.notna().all()  # no month scrambled into a gap
    assert "dates read day first (dd/mm): '01/08/2021 00:00' is 2021-08-01" in notes


def test_month_first_dates_are_read_month_first_when_a_row_tells(tmp_path):
    history = read_history_file(write(tmp_path, rows(lambda t: f"{t:%m/%d/%Y %H:%M}")))
    assert history.index[-1] == MINUTES[-1]


def test_ambiguous_day_month_dates_are_refused_with_the_formats_to_give(tmp_path):
    text = rows(lambda t: f"{t:%d/%m/%Y %H:%M}", times=MINUTES[:500])  # days 01..02: no row tells
    with pytest.raises(SourceError) as e:
        read_history_file(write(tmp_path, text))
    assert "can be read day first or month first" in str(e.value)
    assert "--timestamp-format '%d/%m/%Y %H:%M' (day first) or '%m/%d/%Y %H:%M'" in str(e.value)
    history = read_history_file(write(tmp_path, text), timestamp_format="%m/%d/%Y %H:%M")
    assert history.index[0] == pd.Timestamp("2021-01-08", tz="UTC")  # the user's word decides


def test_dates_in_both_orders_are_refused(tmp_path):
    text = "t,v\n13/01/2021 00:00,1\n01/13/2021 00:05,2\n"
    with pytest.raises(SourceError, match=r"mix day-first .* and month-first"):
        read_history_file(write(tmp_path, text))


def test_naive_times_are_utc_and_a_note_says_so(tmp_path):
    notes: list[str] = []
    read_history_file(write(tmp_path, TRACE_CSV), notes=notes, step_s=60)
    assert any("no time zone: read as UTC" in n for n in notes)
    notes.clear()
    read_history_file(write(tmp_path, rows(lambda t: f"{t:%Y-%m-%dT%H:%M:%SZ}")), notes=notes)
    assert not any("time zone" in n for n in notes)


def test_duplicates_are_counted_in_a_note(tmp_path):
    text = "t,v\n2026-01-05 00:00Z,1\n2026-01-05 00:01Z,2\n2026-01-05 00:01Z,4\n2026-01-05 00:00Z,3\n"
    notes: list[str] = []
    read_history_file(write(tmp_path, text), step_s=60, notes=notes)
    assert any(n.startswith("2 row(s) repeat an earlier timestamp") for n in notes)


@pytest.mark.parametrize(
    ("sep", "name", "given"), [(";", "h.csv", None), ("\t", "h.tsv", None), ("|", "h.txt.csv", "|")]
)
def test_other_separators_are_read(tmp_path, sep, name, given):
    text = rows(lambda t: f"{t:%Y-%m-%dT%H:%MZ}", times=MINUTES[:50], sep=sep)
    history = read_history_file(write(tmp_path, text, name=name), sep=given)
    assert history.index[0] == MINUTES[0] and history.iloc[0] == 0.5


def test_a_one_column_csv_suggests_sep(tmp_path):
    with pytest.raises(SourceError, match="give --sep"):
        read_history_file(write(tmp_path, "t v\n2026-01-05 00:00 1\n"))


def test_parquet_with_a_datetime_index(tmp_path):
    series = pd.Series(np.arange(50.0) + 0.5, index=MINUTES[:50], name="rps")
    path = tmp_path / "h.parquet"
    series.to_frame().to_parquet(path)
    history = read_history_file(path)
    assert history.index[0] == MINUTES[0] and history.iloc[1] == 1.5


def test_the_timestamp_column_can_be_any_column(tmp_path):
    text = "v,t\n" + "".join(f"{i}.5,{t:%Y-%m-%dT%H:%MZ}\n" for i, t in enumerate(MINUTES[:50]))
    history = read_history_file(write(tmp_path, text), timestamp_column="t")
    assert history.index[0] == MINUTES[0] and history.iloc[2] == 2.5


def test_whole_numbers_without_counts_get_a_hint(tmp_path):
    notes: list[str] = []
    read_history_file(write(tmp_path, TRACE_CSV), notes=notes, step_s=60)
    assert not any("--counts" in n for n in notes)  # fewer than 10 values: no guess
    text = "t,v\n" + "".join(f"{t:%Y-%m-%dT%H:%MZ},{60 + i}\n" for i, t in enumerate(MINUTES[:50]))
    read_history_file(write(tmp_path, text), notes=notes)
    assert any("whole number" in n and "--counts" in n for n in notes)
    notes.clear()
    read_history_file(write(tmp_path, text.replace(",6", ",6.0")), notes=notes)  # 60.0, 61.0: rates
    assert not any("--counts" in n for n in notes)
    notes.clear()
    read_history_file(write(tmp_path, text), counts=True, notes=notes)
    assert not any("--counts" in n for n in notes)


def test_a_non_utf8_csv_is_one_clear_error(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"t,v\n2026-01-05 00:00,1\n\xff\xfe,2\n")
    with pytest.raises(SourceError, match="not UTF-8 text"):
        read_history_file(path)
