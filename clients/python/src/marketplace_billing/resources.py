"""The API's resources, one method per endpoint (API.md). A resource's own id may be passed first
by position; everything else is keyword only. Writes that the API makes idempotent take an
`idempotency_key`; without one, a fresh key is chosen for the call and kept across its retries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

from pydantic import PrivateAttr

from ._http import Transport, new_idempotency_key
from .errors import BillingError, Conflict
from .models import (
    Entitlement,
    Hold,
    Invoice,
    LedgerEntry,
    Plan,
    PlanChangePreview,
    Subscription,
    UsageEvent,
    UsageResult,
)
from .producers import UsageRecord

Amount = Decimal | int | str
BATCH_LIMIT = 100  # events a POST /usage/batch takes


def _id(value: str) -> str:
    """A path segment: ids are opaque, so never let one change the path."""
    return quote(str(value), safe="")


class _Resource:
    def __init__(self, http: Transport):
        self._http = http

    def _confirmed(self, error: BillingError, codes: set[str], read: Any, done: str) -> Any:
        """A retried write refused as already done (a release, issue or void whose first answer was
        lost): the resource as that first attempt left it, when it is in the state asked for."""
        if isinstance(error, Conflict) and error.retried and error.code in codes:
            current = read()
            if current.status == done:
                return current
        raise error


class Plans(_Resource):
    def list(self, *, limit: int | None = None) -> Iterator[Plan]:
        """Active plans, cheapest base fee first (public: no token needed)."""
        return self._http.pages("/plans", Plan, {"limit": limit})

    def get(self, plan_id: str, *, version: int | None = None) -> Plan:
        return Plan.model_validate(self._http.json("GET", f"/plans/{_id(plan_id)}", params={"version": version}))


class Subscriptions(_Resource):
    def get(self, subscription_id: str) -> Subscription:
        """The subscription with its `health`."""
        return Subscription.model_validate(self._http.json("GET", f"/subscriptions/{_id(subscription_id)}"))

    def list(
        self,
        *,
        organization_id: str | None = None,
        status: str | None = None,
        plan_id: str | None = None,
        residency: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Subscription]:
        """Newest first. An organization's own (any of its users may list them) when only
        `organization_id` is given; otherwise across organizations (marketplace:admin, finance)."""
        if organization_id is not None and status is plan_id is residency is None:
            path = f"/organizations/{_id(organization_id)}/subscriptions"
            return self._http.pages(path, Subscription, {"limit": limit})
        filters = {"organization_id": organization_id, "status": status, "plan_id": plan_id, "residency": residency}
        return self._http.pages("/subscriptions", Subscription, filters | {"limit": limit})

    def create(
        self,
        *,
        organization_id: str,
        plan_id: str,
        residency: str,
        sla_acceptance: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Subscribe an organization; `sla_acceptance` is `{"accepted_by", "sla_version"}`."""
        body = {"plan_id": plan_id, "residency": residency, "sla_acceptance": sla_acceptance}
        answer = self._http.json(
            "POST",
            f"/organizations/{_id(organization_id)}/subscriptions",
            body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Subscription.model_validate(answer)

    def cancel(self, subscription_id: str) -> Subscription:
        """Cancel (canceling twice answers the canceled subscription, so a retry is safe)."""
        return Subscription.model_validate(self._http.json("POST", f"/subscriptions/{_id(subscription_id)}/cancel"))

    def change_plan(
        self,
        subscription_id: str,
        *,
        plan_id: str,
        effective: Literal["now", "period_end"],
        preview: bool = False,
        sla_acceptance: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription | PlanChangePreview:
        """Move to another plan `now` or at `period_end`; `preview=True` answers what the change
        would bill (a `PlanChangePreview`) and writes nothing."""
        body = {
            "plan_id": plan_id,
            "effective": effective,
            "idempotency_key": idempotency_key or new_idempotency_key(),
            "sla_acceptance": sla_acceptance,
            "preview": preview or None,
        }
        answer = self._http.json("POST", f"/subscriptions/{_id(subscription_id)}/plan-change", body=body)
        return PlanChangePreview.model_validate(answer) if preview else Subscription.model_validate(answer)


class Usage(_Resource):
    def record(
        self,
        *,
        organization_id: str,
        service: str,
        quantity: Amount,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> UsageEvent:
        """Record one usage event (a credit debit). `fields`: `occurred_at`, `unit`, `source`,
        `guardrail`, `metadata`. The same key and body again answers the first event."""
        record = UsageRecord(
            organization_id=organization_id,
            service=service,
            quantity=quantity,
            idempotency_key=idempotency_key or new_idempotency_key(),
            **fields,
        )
        return UsageEvent.model_validate(self._http.json("POST", "/usage", body=record))

    def record_many(self, events: Iterable[UsageRecord | Mapping[str, Any]]) -> list[UsageResult]:
        """Record any number of events, 100 a request; one result per event, in order. One bad
        event does not sink the others: look at each result's `status` (`accepted`, `duplicate`,
        `rejected` with its `error`)."""
        records = [e if isinstance(e, UsageRecord) else UsageRecord.model_validate(e) for e in events]
        keyed = [
            r if r.idempotency_key else r.model_copy(update={"idempotency_key": new_idempotency_key()}) for r in records
        ]
        results: list[UsageResult] = []
        for start in range(0, len(keyed), BATCH_LIMIT):
            chunk = keyed[start : start + BATCH_LIMIT]
            report = self._http.json("POST", "/usage/batch", body={"events": chunk})
            for sent, outcome in zip(chunk, report["results"], strict=True):
                results.append(
                    UsageResult(
                        status=outcome["status"],
                        idempotency_key=sent.idempotency_key,
                        error=outcome.get("error"),
                        event=UsageEvent.model_validate(outcome) if "event_id" in outcome else None,
                    )
                )
        return results

    def list(
        self,
        subscription_id: str,
        *,
        from_: datetime | None = None,
        to: datetime | None = None,
        service: str | None = None,
        guardrail_flag: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> Iterator[UsageEvent]:
        """A subscription's usage events, newest first (`from_` is the API's `from`)."""
        filters = {"from_": from_, "to": to, "service": service, "guardrail_flag": guardrail_flag, "status": status}
        return self._http.pages(f"/subscriptions/{_id(subscription_id)}/usage", UsageEvent, filters | {"limit": limit})

    def void(self, event_id: str, *, reason: str, idempotency_key: str | None = None) -> UsageEvent:
        """Void a wrong event: its debited credits go back to the grants they came from."""
        body = {"reason": reason, "idempotency_key": idempotency_key or new_idempotency_key()}
        return UsageEvent.model_validate(self._http.json("POST", f"/usage/{_id(event_id)}/void", body=body))

    def amend(
        self, event_id: str, *, quantity: Amount, reason: str, idempotency_key: str | None = None, **fields: Any
    ) -> UsageEvent:
        """Replace an event by one of another quantity (`fields`: `guardrail`, `metadata`): answers
        the new event (`replaces` = the old one's id)."""
        body = {
            "quantity": quantity,
            "reason": reason,
            "idempotency_key": idempotency_key or new_idempotency_key(),
            **fields,
        }
        return UsageEvent.model_validate(self._http.json("POST", f"/usage/{_id(event_id)}/amend", body=body))


class Entitlements(_Resource):
    def check(self, *, organization_id: str, service: str, quantity: Amount) -> Entitlement:
        """What recording this usage would do now; writes nothing."""
        body = {"organization_id": organization_id, "service": service, "quantity": quantity}
        return Entitlement.model_validate(self._http.json("POST", "/entitlements/check", body=body))


class Reservation(Hold):
    """A hold placed by `holds.reserve`: settle it inside the block with what the run used."""

    _holds: Holds = PrivateAttr()
    _key: str = PrivateAttr()
    _charge: UsageEvent | None = PrivateAttr(default=None)

    @property
    def charge(self) -> UsageEvent | None:
        """The usage event the settlement recorded (None until settled)."""
        return self._charge

    def settle(self, *, quantity: Amount | None = None, **fields: Any) -> UsageEvent:
        """Charge what the run used (default: what was held), keyed by the reservation's key."""
        if self._charge is not None:
            raise RuntimeError(f"hold {self.hold_id} is settled already (event {self._charge.event_id})")
        self._charge = self._holds.settle(self.hold_id, quantity=quantity, idempotency_key=self._key, **fields)
        self.status, self.settled_event_id = "settled", self._charge.event_id
        return self._charge


class Holds(_Resource):
    def place(
        self,
        *,
        organization_id: str,
        service: str,
        quantity: Amount,
        idempotency_key: str | None = None,
        expires_in_seconds: int | None = None,
        **fields: Any,
    ) -> Hold:
        """Reserve a run's credits before it starts (`fields`: `source`, `metadata`)."""
        body = {
            "organization_id": organization_id,
            "service": service,
            "quantity": quantity,
            "idempotency_key": idempotency_key or new_idempotency_key(),
            "expires_in_seconds": expires_in_seconds,
            **fields,
        }
        return Hold.model_validate(self._http.json("POST", "/holds", body=body))

    def get(self, hold_id: str) -> Hold:
        return Hold.model_validate(self._http.json("GET", f"/holds/{_id(hold_id)}"))

    def settle(
        self, hold_id: str, *, quantity: Amount | None = None, idempotency_key: str | None = None, **fields: Any
    ) -> UsageEvent:
        """Charge the run (default: the held quantity); the rest of the hold is released.
        `fields`: `occurred_at`, `guardrail`, `metadata`."""
        body = {"quantity": quantity, "idempotency_key": idempotency_key or new_idempotency_key(), **fields}
        return UsageEvent.model_validate(self._http.json("POST", f"/holds/{_id(hold_id)}/settle", body=body))

    def release(self, hold_id: str) -> Hold:
        """Release a hold: nothing charged. A retry whose first attempt landed answers the released hold."""
        try:
            return Hold.model_validate(self._http.json("POST", f"/holds/{_id(hold_id)}/release"))
        except BillingError as error:
            return self._confirmed(error, {"hold_not_active"}, lambda: self.get(hold_id), "released")

    @contextmanager
    def reserve(
        self, *, organization_id: str, service: str, quantity: Amount, idempotency_key: str, **options: Any
    ) -> Iterator[Reservation]:
        """Hold the run's credits for the block. `hold.settle(quantity=...)` inside it charges what
        the run used; leaving the block without settling charges the held quantity; leaving it by
        an exception releases the hold and re-raises. The hold is keyed `<idempotency_key>:hold`
        and the charge `<idempotency_key>`, so a producer that restarts the same run is held and
        charged once. `options`: `expires_in_seconds`, `source`, `metadata`."""
        placed = self.place(
            organization_id=organization_id,
            service=service,
            quantity=quantity,
            idempotency_key=f"{idempotency_key}:hold",
            **options,
        )
        hold = Reservation.model_validate(placed.model_dump())
        hold._holds, hold._key = self, idempotency_key
        try:
            yield hold
        except BaseException as failure:
            if hold.charge is None:
                try:
                    self.release(hold.hold_id)
                except BillingError as refused:  # the run's own failure is what the caller must see
                    failure.add_note(f"releasing hold {hold.hold_id} failed too ({refused}); it expires unsettled")
                else:
                    hold.status = "released"
            raise
        if hold.charge is None:
            hold.settle()


class Invoices(_Resource):
    def list(
        self,
        *,
        subscription_id: str | None = None,
        status: str | None = None,
        organization_id: str | None = None,
        period_start_from: datetime | None = None,
        period_start_to: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[Invoice]:
        """Newest period first: one subscription's (any of its readers), or across subscriptions
        (marketplace:admin, finance: how finance finds the drafts the schedule made)."""
        if subscription_id is not None:
            return self._http.pages(f"/subscriptions/{_id(subscription_id)}/invoices", Invoice, {"limit": limit})
        filters = {
            "status": status,
            "organization_id": organization_id,
            "period_start_from": period_start_from,
            "period_start_to": period_start_to,
            "limit": limit,
        }
        return self._http.pages("/invoices", Invoice, filters)

    def get(self, subscription_id: str, invoice_id: str) -> Invoice:
        return Invoice.model_validate(self._http.json("GET", self._path(subscription_id, invoice_id)))

    def draft(self, subscription_id: str, *, period_start: datetime | None = None) -> Invoice:
        """Draft (or redraft) a period's invoice: the current period by default."""
        body = {"period_start": period_start} if period_start is not None else None
        answer = self._http.json("POST", f"/subscriptions/{_id(subscription_id)}/invoices/draft", body=body)
        return Invoice.model_validate(answer)

    def issue(self, subscription_id: str, invoice_id: str) -> Invoice:
        """Issue a draft (the next gapless number)."""
        return self._transition(subscription_id, invoice_id, "issue", "issued")

    def void(self, subscription_id: str, invoice_id: str) -> Invoice:
        return self._transition(subscription_id, invoice_id, "void", "void")

    def export(self, subscription_id: str, invoice_id: str, *, format: Literal["csv", "json", "pdf"]) -> bytes:
        """The invoice as a file for financial tooling (CSV, JSON) or as a document (PDF)."""
        path = self._path(subscription_id, invoice_id) + "/export"
        return self._http.request("GET", path, params={"format": format}).content

    def _transition(self, subscription_id: str, invoice_id: str, action: str, done: str) -> Invoice:
        try:
            answer = self._http.json("POST", f"{self._path(subscription_id, invoice_id)}/{action}")
        except BillingError as error:
            read = lambda: self.get(subscription_id, invoice_id)
            return self._confirmed(error, {"invoice_not_draft"}, read, done)
        return Invoice.model_validate(answer)

    @staticmethod
    def _path(subscription_id: str, invoice_id: str) -> str:
        return f"/subscriptions/{_id(subscription_id)}/invoices/{_id(invoice_id)}"


class Credits(_Resource):
    def top_up(
        self,
        subscription_id: str,
        *,
        amount: Amount,
        reason: str,
        idempotency_key: str | None = None,
        price_cents: int | None = None,
    ) -> LedgerEntry:
        """Add purchased credits (priced at `price_cents`, default the plan's credit price)."""
        return self._change(subscription_id, "top_up", amount, reason, idempotency_key, price_cents=price_cents)

    def adjust(
        self, subscription_id: str, *, amount: Amount, reason: str, idempotency_key: str | None = None
    ) -> LedgerEntry:
        """A signed correction: a negative amount draws from grants and never below zero."""
        return self._change(subscription_id, "adjustment", amount, reason, idempotency_key)

    def _change(self, subscription_id: str, kind: str, amount: Amount, reason: str, key: str | None, **extra: Any):
        body = {"amount": amount, "type": kind, "reason": reason, "idempotency_key": key or new_idempotency_key()}
        answer = self._http.json("POST", f"/subscriptions/{_id(subscription_id)}/credits", body=body | extra)
        return LedgerEntry.model_validate(answer)


class Ledger(_Resource):
    def list(self, subscription_id: str, *, limit: int | None = None) -> Iterator[LedgerEntry]:
        """The credit ledger, oldest first (by `seq`)."""
        return self._http.pages(f"/subscriptions/{_id(subscription_id)}/ledger", LedgerEntry, {"limit": limit})
