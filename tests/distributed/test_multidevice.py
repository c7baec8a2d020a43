"""Eight virtual CPU devices in one process (a subprocess, so this suite keeps one device):
DataParallel and the functional sharding recipe against one device, and checkpoints resharded."""
import json
import sys

import pytest

from tests.distributed._launch import HERE, run


@pytest.mark.slow
def test_eight_virtual_devices():
    code, out = run([sys.executable, str(HERE / "_multidevice_worker.py")], timeout=300,
                    XLA_FLAGS="--xla_force_host_platform_device_count=8")
    assert code == 0, out[-4000:]
    line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
    r = json.loads(line[len("RESULT "):])
    assert r["devices"] == 8
    assert r["dp_keys_prefixed"] and r["dp_devices_of_weight"] == 8
    assert r["dp_loss_rel"] < 2e-6 and r["dp_param_rel"] < 2e-5
    for name in ("replicated", "fsdp"):
        assert r[f"{name}_loss_rel"] < 2e-6 and r[f"{name}_param_rel"] < 2e-5
    assert r["fsdp_w1_spec"] == "PartitionSpec('dp',)" or r["fsdp_w1_spec"] == "P('dp',)"
    assert r["fsdp_w1_shard_shape"] == [8, 32]
    assert r["checkpoint_reshard_equal"]
