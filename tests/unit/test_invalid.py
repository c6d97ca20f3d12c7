"""Every invalid stack under tests/testdata/invalid fails with exactly its .expected text."""
import pytest

from kindreg.core.errors import ConfigError
from tests.helpers import INVALID, plan_of

CASES = sorted(p.stem for p in INVALID.glob("*.expected"))


def test_every_invalid_case_has_a_stack_file():
    stacks = {p.name[len("Pulumi."):-len(".yaml")] for p in INVALID.glob("Pulumi.*.yaml")} - {"shared"}
    assert stacks == set(CASES)
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_invalid_stack_reports_every_problem(case):
    with pytest.raises(ConfigError) as err:
        plan_of(case, INVALID)
    expected = (INVALID / f"{case}.expected").read_text().rstrip("\n")
    assert err.value.render() == expected


@pytest.mark.parametrize("case", ["credentials"])
def test_secrets_in_invalid_config_are_not_echoed(case):
    with pytest.raises(ConfigError) as err:
        plan_of(case, INVALID)
    assert "do-not-print" not in err.value.render()
