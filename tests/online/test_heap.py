"""A loaded model leaves the garbage collector's sight (no full collection walks it on a
request), and no garbage is frozen with it."""

from __future__ import annotations

import gc
import json
import weakref

from mlsys.online.server import OnlineServer


class _Node:
    """An object in a reference cycle: only the collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_a_load_freezes_what_is_alive_and_collects_the_garbage_first(stack, titanic_name):
    server = OnlineServer()
    gc.disable()  # no automatic collection may free the cycle: only the load's own
    try:
        cycle = _Node()
        garbage = weakref.ref(cycle)
        del cycle
        served = server.served_model("dev", titanic_name, "v1")
        assert garbage() is None  # collected before the freeze: garbage is never frozen
        model = served.model.primary.model
        assert gc.get_freeze_count() > 0
        assert not any(o is model for o in gc.get_objects())  # full collections skip it
        gc.collect()  # and the model, frozen, still answers
        row = {"Pclass": 3, "Sex": "male", "Age": 22.0, "SibSp": 1, "Parch": 0, "Fare": 7.25}
        body = json.dumps({"instances": [{**row, "Embarked": "S"}]}).encode()
        assert server.predict("dev", titanic_name, "v1", body).predictions in ([0], [1])
    finally:
        gc.enable()
        gc.unfreeze()  # leave the test process as it was
