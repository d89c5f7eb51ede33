"""Processes under Hugging Face Accelerate: who am I, gather results, sum gradients.

`accelerate launch -m finerewards train ...` (or torchrun) starts several processes; Accelerate's
`PartialState` joins them (NCCL on GPUs, gloo on CPUs). With a plain `fr train` there is one
process and every operation here is the identity, so both cases run the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from finerewards.errors import FRError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


class Dist:
    """The process group of a run (a single process is a group of one)."""

    def __init__(self, device: str = "auto") -> None:
        from accelerate import PartialState

        from finerewards.device import resolve_device

        preferred = resolve_device(device)
        self.state = PartialState(cpu=preferred == "cpu")
        self.rank = int(self.state.process_index)
        self.world = int(self.state.num_processes)
        self.device = preferred if self.world == 1 else str(self.state.device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share of `items` (round-robin, so shares differ by at most one)."""
        return list(items[self.rank :: self.world])

    def gather(self, payload: Any) -> list[Any]:
        """Every process's `payload`, in process order, on every process."""
        if self.world == 1:
            return [payload]
        from accelerate.utils import gather_object

        return list(gather_object([payload]))

    def check(self, error: FRError | None) -> None:
        """Raise on every process when any process failed, so none waits forever on the others."""
        errors = self.gather(None if error is None else (type(error).__name__, str(error), error.exit_code))
        for item in errors:
            if item is not None:
                if error is not None:
                    raise error
                failure = FRError(f"{item[1]} (in another process)")
                failure.exit_code = item[2]
                raise failure

    def barrier(self) -> None:
        if self.world > 1:
            self.state.wait_for_everyone()

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of `tensor` over processes."""
        if self.world == 1:
            return tensor
        from accelerate.utils import reduce

        return reduce(tensor, reduction="sum")
