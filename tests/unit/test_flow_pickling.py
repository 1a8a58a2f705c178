"""serve starts each run from the flow object it holds, pickled by value into the run's process (the
module attribute is the Flow, not its function, so cloudpickle cannot pickle the function by
reference). The function then keeps only the globals its body uses: a parameter annotation that is a
string (``from __future__ import annotations``) naming ``Annotated`` or ``Field`` can no longer be
resolved, and every run of that deployment fails validating its parameters."""

from __future__ import annotations

from typing import Any

import cloudpickle
import pytest

from deployments.specs import load_flow, load_specs

PARAMETERS: dict[str, dict[str, Any]] = {
    "count-words": {"urls": ["https://example.org/"], "word": "python"},
    "submit-brief": {"keywords": ["咖啡"], "platforms": ["weibo"]},
    "collect-brief": {"brief_id": 1},
    "analyse-brief": {"brief_id": 1},
    "sync-account": {"account_id": 1},
}


@pytest.mark.parametrize("spec", load_specs(), ids=lambda spec: spec.name)
def test_a_flow_pickled_by_value_still_validates_its_parameters(spec: Any) -> None:
    flow = cloudpickle.loads(cloudpickle.dumps(load_flow(spec)))
    parameters = PARAMETERS.get(spec.name, spec.parameters or {})
    assert parameters.keys() <= flow.validate_parameters(parameters).keys()
