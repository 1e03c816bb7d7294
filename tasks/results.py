"""How task results are stored: JSON of the project's own pydantic models, read back only if written that way.

Prefect persists a task's result as a record that names the serializer it was written with, and reading a record
(even only to check that a cache entry exists) deserializes it with that serializer — cloudpickle by default. With
result storage shared between workers, whoever can write there could then run code on every worker. So:
- results are written as JSON; the only objects encoded are pydantic models of this project (and numbers, strings,
  lists, dicts); decoding builds only project models, validated field by field;
- the storage refuses to hand Prefect a record that names any other serializer, so a planted pickle is never loaded:
  Prefect sees a cache miss, recomputes and overwrites the record.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.filesystems import LocalFileSystem
from prefect.serializers import JSONSerializer
from pydantic import BaseModel

logger = logging.getLogger(__name__)

PROJECT_PACKAGES = tuple(
    p.name for p in Path(__file__).resolve().parent.parent.iterdir() if (p / "__init__.py").is_file()
)


def _project_class(qualified: str) -> type[BaseModel] | None:
    module, _, name = qualified.rpartition(".")
    if module.split(".")[0] not in PROJECT_PACKAGES:
        return None
    cls = getattr(importlib.import_module(module), name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def encode_object(obj: Any) -> Any:
    """json.dumps `default`: project models as {"__model__", "data"}; numpy scalars as numbers; anything else refused."""
    if isinstance(obj, BaseModel) and _project_class(f"{type(obj).__module__}.{type(obj).__qualname__}"):
        return {"__model__": f"{type(obj).__module__}.{type(obj).__qualname__}", "data": obj.model_dump(mode="json")}
    if isinstance(obj, BaseException):  # a failed task's state: the error as text, never as a live object
        return {"__error__": f"{type(obj).__module__}.{type(obj).__qualname__}", "message": str(obj)}
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"task results are stored as JSON; cannot store a {type(obj).__qualname__}")


class StoredError(RuntimeError):
    """A task's failure read back from the result store: its type's name and message, never the live object."""


def decode_object(value: dict[str, Any]) -> Any:
    """json.loads `object_hook`: rebuild project models only; anything naming another class stays a plain dict."""
    if "__model__" in value and set(value) == {"__model__", "data"}:
        cls = _project_class(value["__model__"])
        if cls is None:
            raise ValueError(f"result names {value['__model__']!r}, which is not one of this project's models")
        return cls.model_validate(value["data"])
    if "__error__" in value and set(value) == {"__error__", "message"}:
        return StoredError(f"{value['__error__']}: {value['message']}")
    return value


SERIALIZER = JSONSerializer(object_encoder=f"{__name__}.encode_object", object_decoder=f"{__name__}.decode_object")


class UntrustedResult(ValueError):
    """A stored result record that was not written by this project's JSON serializer."""


def check_record(path: str, content: bytes) -> bytes:
    """Return the record if it names exactly our serializer; raise otherwise (Prefect then treats it as a miss)."""
    try:
        record = json.loads(content)
        serializer = record["metadata"]["serializer"]
    except (ValueError, KeyError, TypeError):
        serializer = None
    if serializer != SERIALIZER.model_dump(mode="json"):
        kind = serializer.get("type") if isinstance(serializer, dict) else "not a JSON result record"
        logger.warning("refusing result record %s written with serializer %r; it will be recomputed", path, kind)
        raise UntrustedResult(f"result record {path} was not written by embedforge's JSON serializer ({kind})")
    return content


class TrustedResultStorage(LocalFileSystem):
    """Local (or shared, mounted) result storage that only ever returns records written by SERIALIZER."""

    _block_type_name = "Embedforge Result Storage"

    async def aread_path(self, path: str) -> bytes:
        return check_record(path, await super().aread_path(path))

    @async_dispatch(aread_path)
    def read_path(self, path: str) -> bytes:
        return check_record(path, LocalFileSystem.read_path(self, path, _sync=True))


BLOCK_NAME = "results"
STORAGE_BLOCK = f"{TrustedResultStorage.get_block_type_slug()}/{BLOCK_NAME}"  # how tasks name it


def ensure_storage_block() -> None:
    """Save the result storage (under PREFECT_LOCAL_STORAGE_PATH) as a block on the Prefect server, if it is not there.

    Prefect accepts only server-side storage for task results; tasks name it by STORAGE_BLOCK and load it when they
    run, so the flow calls this first. Several workers share results by mounting one path there.
    """
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    basepath = str(Path(os.path.expanduser(str(PREFECT_LOCAL_STORAGE_PATH.value()))).resolve())
    try:
        if TrustedResultStorage.load(BLOCK_NAME, _sync=True).basepath == basepath:
            return
    except ValueError:  # not saved yet
        pass
    TrustedResultStorage(basepath=basepath).save(BLOCK_NAME, overwrite=True, _sync=True)


def result_options(tasks: bool = True) -> dict[str, Any]:
    """How a task (or, with tasks=False, the flow) persists its result: JSON, and tasks in the trusted storage."""
    options: dict[str, Any] = dict(persist_result=True, result_serializer=SERIALIZER)
    if tasks:
        options["result_storage"] = STORAGE_BLOCK
    return options
