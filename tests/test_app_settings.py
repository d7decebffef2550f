"""Settings saved in the dialog take effect in the running services: the coordinator's hedge
policy and countdown, and the pre-trade gate's limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

from cockpit.app import Services, execution_settings
from cockpit.config import load_settings
from cockpit.execution.hedger import HedgePolicy
from cockpit.risk.checks import RiskLimits


def test_saved_settings_reach_the_coordinator_and_the_gate(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    services = Services(settings, embed_exchange=False, connect_broker=False)
    gate = SimpleNamespace(limits=RiskLimits())
    coordinator = SimpleNamespace(settings=execution_settings(settings), gate=gate)
    services.coordinator = coordinator  # type: ignore[assignment]
    assert coordinator.settings.hedge_policy is HedgePolicy.CONFIRM
    changed = dataclasses.replace(
        settings,
        execution=dataclasses.replace(
            settings.execution, hedge_policy=HedgePolicy.AUTO, hedge_countdown_s=5.0
        ),
        risk=dataclasses.replace(settings.risk, max_loss_per_group_inr=5_000),
    )
    services.apply_settings(changed)
    assert coordinator.settings.hedge_policy is HedgePolicy.AUTO
    assert coordinator.settings.hedge_countdown_s == 5.0
    assert gate.limits.max_loss_per_group == 5_000_00
    assert services.settings is changed
