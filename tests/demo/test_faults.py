"""Every fault switch of the demo, judged by wsmonitor's own probes and checks: switched on,
the expected classification, failing check and diagnosis appear; switched off, they clear."""

from __future__ import annotations

import pytest

from wsmonitor.demo import FAULTS, Fault
from wsmonitor.demo.stack import DemoStack

from .conftest import Monitor

PRIMARY = "handshake:token+origin"


def failing(results: dict) -> list[str]:  # noqa: ANN001 - check results by id
    return sorted(cid for cid, r in results.items() if r.status == "fail")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault_is_named_then_clears(demo: DemoStack, fault: Fault) -> None:
    monitor = Monitor(demo)
    diagnosis, results, history = await monitor.verdict(fault.name, on=True)
    primary = history[PRIMARY][-1]
    assert primary.classification == fault.classification, (primary.classification,
                                                           primary.error)
    check = results[fault.check]
    assert check.status == "fail", (fault.check, check.status, check.summary)
    assert diagnosis.layer == fault.layer, (diagnosis.layer, diagnosis.summary,
                                            failing(results))
    assert fault.name in demo.faults

    demo.set_fault(fault.name, False)
    assert fault.name not in demo.faults
    diagnosis, results, history = await monitor.verdict()
    assert history[PRIMARY][-1].classification == "ok"
    assert results[fault.check].status in ("pass", "warn"), results[fault.check].summary
    assert failing(results) == []
    assert diagnosis.layer == "none", diagnosis.summary


async def test_faults_add_up_and_clear_together(demo: DemoStack) -> None:
    # The platform cut is seen first: the upgrade never reaches the broken Redis behind it.
    demo.set_fault("redis-down")
    diagnosis, results, history = await Monitor(demo).verdict("platform-cut")
    assert history[PRIMARY][-1].classification == "no-status-line"
    assert results["redis-reachable"].status == "fail"
    assert demo.faults == {"redis-down", "platform-cut"}
    demo.clear_faults()
    assert demo.faults == frozenset()
    diagnosis, results, _ = await Monitor(demo).verdict()
    assert diagnosis.layer == "none", diagnosis.summary


async def test_unknown_fault_is_refused(demo: DemoStack) -> None:
    with pytest.raises(ValueError, match="unknown fault 'redis-slow': use one of"):
        demo.set_fault("redis-slow")
    assert demo.faults == frozenset()
