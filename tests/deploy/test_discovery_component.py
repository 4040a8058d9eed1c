"""The discovery component adds exactly the permission opt-in discovery uses: list ScaledObjects."""

from __future__ import annotations

import os

import pytest

from tests.deploy.manifests import DEPLOY, one, render

pytestmark = pytest.mark.integration


def test_the_discovery_component_grants_list_on_scaledobjects(tmp_path):
    overlay = tmp_path / "with-discovery"
    overlay.mkdir()  # kustomize takes relative paths only
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(DEPLOY / 'overlays' / 'dry-run', overlay)}\n"
        f"components:\n  - {os.path.relpath(DEPLOY / 'components' / 'discovery', overlay)}\n",
        encoding="utf-8",
    )
    objects = render(overlay)
    role = one(objects, "ClusterRole", "predictor-discover")
    assert role["rules"] == [{"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": ["list"]}]
    binding = one(objects, "ClusterRoleBinding", "predictor-discover")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "predictor", "namespace": "predictor"}]
    assert binding["roleRef"]["name"] == "predictor-discover"
