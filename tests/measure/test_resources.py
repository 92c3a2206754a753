"""The memory a run may use: /proc/meminfo, lowered to a container's cgroup limit."""

from __future__ import annotations

import pytest

from swinprof.errors import ResourceError
from swinprof.measure.resources import available_memory_bytes, cgroup_headroom_bytes, require_memory


@pytest.mark.parametrize(
    ("files", "headroom"),
    [
        ({"memory.max": "1073741824\n", "memory.current": "268435456\n"}, 805306368),  # v2 with a limit
        ({"memory.max": "max\n", "memory.current": "5\n"}, None),  # v2 without
        ({"memory/memory.limit_in_bytes": "2147483648", "memory/memory.usage_in_bytes": "1073741824"}, 2**30),
        ({"memory/memory.limit_in_bytes": "9223372036854771712", "memory/memory.usage_in_bytes": "1"}, None),
        ({"memory.max": "100", "memory.current": "300"}, 0),  # over the limit already: nothing left
        ({"memory.max": "junk", "memory.current": "1"}, None),
        ({}, None),  # no cgroup files at all
    ],
    ids=["v2", "v2-max", "v1", "v1-unlimited", "v2-over", "v2-junk", "none"],
)
def test_cgroup_headroom(files, headroom, tmp_path):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_headroom_bytes(tmp_path) == headroom


def test_a_request_beyond_the_available_memory_is_refused_before_any_work():
    available = available_memory_bytes()
    if available is None:
        pytest.skip("this platform does not say how much memory is available")
    require_memory(available // 2, "half of it")
    with pytest.raises(ResourceError, match=r"needs an estimated .* GiB of memory but .* available here: try less"):
        require_memory(available * 2, "twice of it", "try less")


def test_cuda_memory_is_unknown_where_there_is_no_cuda():
    """On a machine without CUDA the bound steps aside: resolving `--device cuda` is the error the user sees."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert available_memory_bytes("cuda") is None and available_memory_bytes("cuda:1") is None


@pytest.mark.cuda
def test_cuda_free_memory_is_read_from_the_device():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    free = available_memory_bytes("cuda")
    assert free is not None and 0 < free <= torch.cuda.get_device_properties(0).total_memory
    with pytest.raises(ResourceError, match="of cuda memory"):
        require_memory(free * 2, "twice the free memory", device="cuda")
