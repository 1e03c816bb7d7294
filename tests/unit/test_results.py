"""Task results are JSON of the project's own models; a record written any other way is refused, never executed."""

from __future__ import annotations

import json
import pickle

import pytest

from tasks.results import SERIALIZER, TrustedResultStorage, UntrustedResult, decode_object
from tasks.steps import Mined
from tasks.storage import DatasetRef

MINED = Mined(
    negatives=DatasetRef(path="/store/negatives/ab.parquet", sha256="ab" * 32, rows=3, schema_name="negatives"),
    report={"rows": {"bm25": 3}, "seconds": 0.5},
)


class Planted:
    """What an attacker with write access to the result store would leave: unpickling it runs code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def store(tmp_path):
    from prefect.results import ResultStore

    return ResultStore(result_storage=TrustedResultStorage(basepath=str(tmp_path)), serializer=SERIALIZER)


def test_a_project_model_round_trips_as_json(tmp_path):
    results = store(tmp_path)
    results.persist_result_record(results.create_result_record(MINED, key="k1"))
    record = json.loads((tmp_path / "k1").read_bytes())
    assert record["metadata"]["serializer"]["type"] == "json"
    assert json.loads(record["result"])["__model__"] == "tasks.steps.Mined"
    assert results.read("k1").result == MINED


def test_a_planted_pickle_record_is_refused_and_never_unpickled(tmp_path):
    from prefect._internal.result_records import ResultRecord, ResultRecordMetadata
    from prefect.serializers import PickleSerializer

    marker = tmp_path / "owned"
    record = ResultRecord(
        metadata=ResultRecordMetadata(serializer=PickleSerializer(), storage_key="k2"), result=Planted(str(marker))
    )
    (tmp_path / "k2").write_bytes(record.serialize())
    results = store(tmp_path)
    assert not results.exists("k2")  # Prefect's cache lookup: a miss, so the step recomputes and overwrites
    with pytest.raises(UntrustedResult, match="not written by embedforge"):
        results.read("k2")
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(Planted(str(marker)))) and marker.exists()  # the payload was live


def test_decoding_builds_only_project_models():
    with pytest.raises(ValueError, match="not one of this project's models"):
        decode_object({"__model__": "subprocess.Popen", "data": {"args": ["true"]}})
    with pytest.raises(ValueError, match="not one of this project's models"):
        decode_object({"__model__": "prefect.serializers.PickleSerializer", "data": {}})
    assert decode_object({"__class__": "os.system", "data": "true"}) == {"__class__": "os.system", "data": "true"}
