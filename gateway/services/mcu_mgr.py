"""TPProfessional.MCUMgr: the MCUs of the platform and their resources, served at
/services/mcuMgr and /esdk/services/tpProfessionalMCUMgr.

- queryMCUInfoEx lists the MCU pool (mcu/mcus.py: today this process's media plane),
  filtered, sorted and paged by gateway/directory_query.py over MCU_COLUMNS.
- queryMCUFutureResourceEx answers, per MCU asked, each resource type's free and total
  counts over the window in slices of constant use (mcu/mcu_resources.py: ports and CP
  resources, and ports per video format, mcu/port_costs.py), from the scheduler's bookings
  and the conferences running now.
"""

from __future__ import annotations

from gateway import convert
from gateway.directory_query import MCU_COLUMNS, query_rows
from gateway.soap import GatewayService, Reply, operation, request_context
from mcu.errors import DomainError, Fault
from mcu.mcu_resources import future_resources


class McuMgrService(GatewayService):
    """TPProfessional.MCUMgr."""

    @operation("queryMCUInfoEx")
    def queryMCUInfoEx(ctx, queryConfig):  # noqa: N802, N803 - wire names
        gateway = request_context(ctx).gateway
        page = query_rows(gateway.mcus.all(), MCU_COLUMNS, queryConfig, gateway.numbering)
        return Reply(
            mcus=[convert.mcu_info_to_wire(mcu) for mcu in page.rows],
            pageInfo=convert.page_info_to_wire(page),
        )

    @operation("queryMCUFutureResourceEx")
    def queryMCUFutureResourceEx(ctx, mcus, beginTime, duration):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        mcu_ids = [mcu_id for mcu_id in mcus or () if mcu_id is not None]
        if not mcu_ids:
            raise DomainError(Fault.MISSING_PARAMETER, "mcus")
        convert.require_aware(beginTime, "beginTime")
        bookings = gateway.scheduler.bookings_between(beginTime, duration)  # checks the window
        runtime = gateway.runtime
        if runtime is not None:
            runtime.reconcile()  # conferences due by now are counted as running
        live = runtime.conferences.all() if runtime is not None else []
        resources = future_resources(
            gateway.mcus,
            mcu_ids,
            bookings,
            live,
            gateway.clock.now(),
            beginTime,
            beginTime + duration,
        )
        return Reply(mcuResList=[convert.mcu_resources_to_wire(item) for item in resources])
