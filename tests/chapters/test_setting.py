"""The Setting chapter's claims, asserted on the chapter's own configuration."""
import l2lcore
from l2lcore.chapters.setting import compare_methods, setting_claims


def test_setting_claims_hold():
    task = l2lcore.QuadraticTask.random(20, 0, "code")
    etas = {"0.5/L": 0.5 / task.L, "2/(L+alpha)": 2 / (task.L + task.alpha), "1.2 * 2/L": 2.4 / task.L}
    rows = compare_methods(task, etas, [10, 80, 1000, 10000])
    claims = setting_claims(task, rows)
    assert all(c.holds for c in claims), [c for c in claims if not c.holds]
