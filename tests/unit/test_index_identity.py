"""An index's content identity: the same documents give the same id on any host; a worker refuses a run whose
index content differs from its own copy."""

import copy

import pytest

from ragq.shared.corpus.index import content_id
from ragq.shared.errors import CorpusIndexError
from ragq.worker.loaded import Indexes


def test_content_id_ignores_paths_and_dates(demo_index):
    manifest = demo_index.manifest
    elsewhere = copy.deepcopy(manifest)
    elsewhere["created_at"] = "2030-01-01T00:00:00+00:00"
    for source in elsewhere["sources"]:
        source["path"] = "/another/host/" + source["name"]
    assert content_id(elsewhere) == content_id(manifest)
    changed = copy.deepcopy(manifest)
    changed["sources"][0]["sha256"] = "0" * 64
    assert content_id(changed) != content_id(manifest)


def test_worker_refuses_a_run_whose_index_differs(demo_index, demo_indexes_dir):
    indexes = Indexes(demo_indexes_dir, {"demo": demo_index})
    assert indexes.get("demo", demo_index.manifest) is demo_index
    other = copy.deepcopy(demo_index.manifest)
    other["sources"][0]["sha256"] = "0" * 64
    with pytest.raises(CorpusIndexError, match="holds other documents than the run's"):
        indexes.get("demo", other)
