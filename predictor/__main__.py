from predictor.cli.main import app

app(prog_name="predictor")
