"""What a replay reads and writes besides its run record, in one value passed down the walk."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..core.ports import DeadLetters, DeliveryLog, DocumentStore, EventIndex, MessageQueue, ReplayTarget, RunStore
from ..core.targets import Target
from ..core.timefmt import now as utc_now

if TYPE_CHECKING:
    from .process import Recomputer


@dataclasses.dataclass(frozen=True)
class Wiring:
    """What a replay reads and writes besides the run: the events, the stack's queue, the documents
    (raw events, event id lists), the deliveries to external targets, a factory of external target
    adapters (``pik.bootstrap.replay_target``) and the processor's recompute (``recomputer``: a dry run
    previews its impact; None: no preview)."""

    index: EventIndex
    runs: RunStore
    queue: MessageQueue
    documents: DocumentStore
    targets: Callable[[Target], ReplayTarget]
    account: str = ""
    page_size: int | None = None
    clock: Callable[[], datetime] = utc_now
    wait: Callable[[float], None] = time.sleep
    on_sent: Callable[[int], None] = lambda sent: None
    dead_letters: DeadLetters | None = None
    deliveries: DeliveryLog | None = None  # what external targets already got (None: not looked up)
    recomputer: Recomputer | None = None

    def dead_letter_queue(self) -> DeadLetters:
        """The replay queue's DLQ, which a redrive reads (the bootstrap wires it; a test may leave it out)."""
        if self.dead_letters is None:
            raise ValueError("this replay wiring has no dead-letter queue: a redrive needs one")
        return self.dead_letters
