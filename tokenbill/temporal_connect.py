"""How every process of ours (API, worker, CLI) opens its Temporal client: one place for the
address, the namespace and the data converter, so connection options are set once."""

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime

from tokenbill.settings import Settings
from workflows.converter import DATA_CONVERTER


async def connect_temporal(
    settings: Settings,
    *,
    address: str | None = None,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """A client of TEMPORAL_ADDRESS (or `address`) in TEMPORAL_NAMESPACE."""
    target = address or settings.temporal_address
    if not target:
        raise ValueError("TEMPORAL_ADDRESS is not set")
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        interceptors=interceptors,
        runtime=runtime,
    )
