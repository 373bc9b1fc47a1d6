"""Sharding: partition rules and multi-host settings here; the 8-device checks
(tests/multidevice_checks.py) in a subprocess that simulates 8 CPU devices."""
import os
import subprocess
import sys
from pathlib import Path

from jax.sharding import PartitionSpec as P

from lvmae.train.sharding import Parallelism, array_spec


def test_fsdp_splits_the_largest_divisible_dimension():
  assert array_spec((12, 768, 3072), 8) == P(None, None, "fsdp")
  assert array_spec((12, 768), 8) == P(None, "fsdp")
  assert array_spec((12, 5), 4) == P("fsdp")       # 12 is the only dimension 4 divides
  assert array_spec((7, 5), 2) == P()              # nothing divisible: replicated
  assert array_spec((), 2) == P()                  # scalars (optimiser counts)
  assert array_spec((12, 768), 1) == P()           # fsdp = 1: data parallel only


def test_multi_host_settings_come_from_the_config_then_the_environment(monkeypatch):
  for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    monkeypatch.delenv(name, raising=False)
  assert Parallelism().distributed_args() is None  # one process: nothing to start
  monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
  monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
  monkeypatch.setenv("JAX_PROCESS_ID", "2")
  assert Parallelism().distributed_args() == {
      "coordinator_address": "10.0.0.1:1234", "num_processes": 4, "process_id": 2}
  assert Parallelism(coordinator="host0:99", process_id=0).distributed_args() == {
      "coordinator_address": "host0:99", "num_processes": 4, "process_id": 0}


def test_eight_device_checks_pass():
  tests = Path(__file__).parent
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         str(tests / "multidevice_checks.py")], cwd=tests.parent, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
  assert " passed" in proc.stdout
