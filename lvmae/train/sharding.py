"""Device mesh and shardings of a training run: data parallelism x FSDP, one process or many.

- The mesh has two axes, ("data", "fsdp"), with Auto axis types (XLA propagates shardings); its
  size is every device of every process, `fsdp` of them along "fsdp".
- The batch is split along its leading axis over all devices (both axes), so the global batch
  must be a multiple of the device count.
- FSDP: every array of the train state (parameters and the optimiser's moments alike) is split
  along its largest dimension that `fsdp` divides; arrays with no such dimension (biases of odd
  sizes, scalars) are replicated. With fsdp = 1 the state is replicated (plain data parallelism).
- Multi-host: `initialize` calls jax.distributed.initialize with the coordinator, process count
  and id from the config, else from JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID;
  without a coordinator it does nothing (one process). Each process then reads its own share of
  the data (`lvmae.data.pipeline.train_iterator` shards by process) and `put_batch` assembles the
  global batch from the per-process parts.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from lvmae.validation import ConfigError, NonNegativeInt, PositiveInt, check_fields

AXES = ("data", "fsdp")
ENV = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES", "process_id": "JAX_PROCESS_ID"}


@dataclasses.dataclass(frozen=True)
class Parallelism:
  """How a run spreads over devices and hosts (see the module docstring)."""
  fsdp: PositiveInt = 1
  coordinator: str = ""             # "host:port" of process 0; "" = from the environment, or one process
  num_processes: PositiveInt | None = None
  process_id: NonNegativeInt | None = None

  def __post_init__(self):
    check_fields(self)
    if None not in (self.num_processes, self.process_id) and self.process_id >= self.num_processes:
      raise ConfigError("process_id", self.process_id, f"must be below num_processes={self.num_processes}")

  def distributed_args(self) -> dict | None:
    """jax.distributed.initialize's arguments (config first, then environment); None: one process."""
    coordinator = self.coordinator or os.environ.get(ENV["coordinator"], "")
    if not coordinator:
      return None
    args = {"coordinator_address": coordinator}
    for name in ("num_processes", "process_id"):
      value = getattr(self, name)
      if value is None and os.environ.get(ENV[name]):
        value = int(os.environ[ENV[name]])
      if value is not None:
        args[name] = value
    return args


def initialize(parallel: Parallelism) -> None:
  """Starts JAX's multi-controller runtime when a coordinator is configured (once per process)."""
  args = parallel.distributed_args()
  if args is not None and not jax.distributed.is_initialized():
    jax.distributed.initialize(**args)


def make_mesh(parallel: Parallelism, devices=None) -> jax.sharding.Mesh:
  devices = list(jax.devices() if devices is None else devices)
  if len(devices) % parallel.fsdp:
    raise ConfigError("parallel.fsdp", parallel.fsdp, f"must divide the number of devices, {len(devices)}")
  return jax.make_mesh((len(devices) // parallel.fsdp, parallel.fsdp), AXES,
                       axis_types=(AxisType.Auto,) * len(AXES), devices=devices)


def array_spec(shape: tuple[int, ...], fsdp: int) -> P:
  """The partition spec of one state array: its largest dimension divisible by `fsdp` on "fsdp"."""
  dims = [i for i, size in enumerate(shape) if size % fsdp == 0] if fsdp > 1 else []
  if not dims:
    return P()
  axis = max(dims, key=lambda i: (shape[i], -i))
  return P(*([None] * axis + ["fsdp"]))


def state_shardings(mesh: jax.sharding.Mesh, state: Any) -> Any:
  """A NamedSharding for every array leaf of `state` (concrete or abstract)."""
  fsdp = mesh.shape["fsdp"]
  return jax.tree.map(lambda x: NamedSharding(mesh, array_spec(tuple(np.shape(x)), fsdp)), state)


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(AXES))


def check_batch(mesh: jax.sharding.Mesh, batch_size: int, field: str = "schedule.batch_size") -> None:
  if batch_size % mesh.size:
    raise ConfigError(field, batch_size, f"must be a multiple of the {mesh.size} devices")


def put_batch(batch: dict, sharding: NamedSharding) -> dict:
  """This process's share of a batch (numpy) -> global device arrays split over the mesh."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}
