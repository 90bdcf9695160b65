"""What happened to each demo lead, in order: texts, preview visits, replies, calls, alerts.

Each lead's story walks a clock forward from its import, so every timeline event, message,
preview event, call and notification lines up, and texts fall inside local quiet hours.
"""

import hashlib
import random
from datetime import datetime, timedelta

from django.conf import settings as django_settings

from crm.models import (
    Call,
    Enrollment,
    Lead,
    Message,
    Notification,
    PreviewEvent,
    SequenceStep,
    TimelineEvent,
    User,
)

from .company import SENDER_NUMBERS, DemoCompany
from .data import CALL_NOTES, CTA_TARGETS, REPLIES_NEGATIVE, REPLIES_POSITIVE, USER_AGENTS
from .leads import LeadPlan
from .rows import RowCollector, hex_id, last_send_time, next_send_time, stripe_id

S = Lead.Status
K = TimelineEvent.Kind
HOT_COOLS_AFTER = timedelta(days=60)  # older hot leads show as warm in the demo


class LeadStory:
    def __init__(self, plan: LeadPlan, company: DemoCompany, rows: RowCollector,
                 rng: random.Random, now: datetime) -> None:
        self.plan, self.lead, self.company = plan, plan.lead, company
        self.rows, self.rng, self.now = rows, rng, now
        # The story stops before the present, at a moment a text may be sent in the lead's zone.
        self.limit = last_send_time(now - timedelta(minutes=rng.randint(5, 50)), self.lead.time_zone, rng)
        self.t = plan.created_at
        self.sender = rng.choice(SENDER_NUMBERS)
        self.owner: User = plan.rep or company.admin  # who gets this lead's alerts
        self.enrollment: Enrollment | None = None
        self.views = self.clicks = self.seconds = self.inbound = 0

    # -- the clock and the small writers ---------------------------------------------------

    def wait(self, **delta: float) -> datetime:
        """Move the clock forward, never past the present."""
        self.t = max(self.t, min(self.t + timedelta(**delta), self.limit))
        return self.t

    def wait_for_send_window(self) -> datetime:
        self.t = max(self.t, min(next_send_time(self.t, self.lead.time_zone, self.rng), self.limit))
        return self.t

    def event(self, kind: str, actor: User | None = None, **data) -> None:
        self.rows.add(TimelineEvent(lead=self.lead, kind=kind, actor=actor, data=data), at=self.t)

    def notify(self, kind: str, text: str, recipient: User | None = None) -> None:
        age = self.now - self.t
        read_at = self.t + timedelta(hours=self.rng.randint(1, 20)) if age > timedelta(days=2) else None
        self.rows.add(Notification(recipient=recipient or self.owner, lead=self.lead, kind=kind,
                                   text=text[:500], read_at=read_at), at=self.t)

    def status(self, status: str, actor: User | None = None) -> None:
        if self.lead.status != status:
            self.event(K.STATUS_CHANGE, actor, **{"from": self.lead.status, "to": status})
            self.lead.status = status

    def render(self, body: str) -> str:
        lead = self.lead
        rep = self.plan.rep
        return body.format(
            contact_first_name=lead.contact_first_name or "there",
            business_name=lead.business_name,
            first_line=lead.first_line,
            preview_url=f"{django_settings.PUBLIC_BASE_URL}/p/{lead.preview_token}/",
            rep_name=rep.first_name if rep else self.company.settings.name,
            company_name=self.company.settings.name,
            checkout_url=f"https://checkout.stripe.com/c/pay/{stripe_id(self.rng, 'cs_live', 40)}",
        )

    def send(self, body: str, *, step: SequenceStep | None = None, sent_by: User | None = None,
             failed_code: str = "") -> Message:
        self.wait_for_send_window()
        failed = bool(failed_code)
        message = Message(
            lead=self.lead, direction=Message.Direction.OUTBOUND, body=body,
            from_number=self.sender, to_number=self.lead.phone,
            provider_sid=hex_id(self.rng, "SM"),
            status=Message.Status.UNDELIVERED if failed else Message.Status.DELIVERED,
            error_code=failed_code,
            error_message={"30003": "Unreachable destination handset",
                           "30006": "Landline or unreachable carrier"}.get(failed_code, ""),
            enrollment=self.enrollment if step else None, sequence_step=step, sent_by=sent_by,
            sent_at=self.t,
            delivered_at=None if failed else self.t + timedelta(seconds=self.rng.randint(2, 9)),
        )
        self.rows.add(message, at=self.t - timedelta(seconds=1))
        self.event(K.MESSAGE_OUT, sent_by, step=step.order if step else None, sid=message.provider_sid)
        self.lead.last_contacted_at = self.t
        self.plan.extras.setdefault("outbound", []).append(message)
        if failed:
            self.notify(Notification.Kind.SEND_FAILED,
                        f"Text to {self.lead.business_name} failed: {message.error_message}",
                        recipient=self.company.admin)
        return message

    def receive(self, body: str) -> None:
        self.wait(minutes=self.rng.randint(3, 240))
        sid = hex_id(self.rng, "SM")
        self.rows.add(Message(
            lead=self.lead, direction=Message.Direction.INBOUND, body=body,
            from_number=self.lead.phone, to_number=self.sender, provider_sid=sid,
            status=Message.Status.RECEIVED,
        ), at=self.t)
        self.event(K.MESSAGE_IN, sid=sid, body=body)
        self.inbound += 1
        self.plan.extras.setdefault("inbound", []).append((sid, body, self.t, self.sender))

    def stop_sequence(self, reason: str) -> None:
        enrollment = self.enrollment
        if enrollment is None or enrollment.status != Enrollment.Status.ACTIVE:
            return
        enrollment.status, enrollment.stop_reason = Enrollment.Status.STOPPED, reason
        enrollment.stopped_at, enrollment.next_step, enrollment.next_run_at = self.t, None, None
        self.event(K.SEQUENCE_STOPPED, reason=reason)

    def call(self, outcome: str) -> None:
        rep = self.plan.rep
        if rep is None:
            return
        self.wait(minutes=self.rng.randint(5, 90))
        talked = outcome not in ("no_answer", "voicemail")
        duration = self.rng.randint(120, 900) if talked else (
            self.rng.randint(20, 50) if outcome == "voicemail" else 0)
        status = Call.Status.NO_ANSWER if outcome == "no_answer" else Call.Status.COMPLETED
        self.rows.add(Call(
            lead=self.lead, rep=rep, provider_sid=hex_id(self.rng, "CA"), status=status,
            duration_seconds=duration, outcome=outcome,
            notes=self.rng.choice(CALL_NOTES[outcome]),
            ended_at=self.t + timedelta(seconds=duration + 15),
        ), at=self.t)
        self.event(K.CALL, rep, outcome=outcome, duration=duration)
        self.wait(seconds=duration + 60)

    # -- the preview page ------------------------------------------------------------------

    def visit(self, *, session: str, click: bool) -> None:
        """One page view: the view, a ping every 15 seconds, maybe a click, then leave."""
        user_agent = self.rng.choice(USER_AGENTS)
        ip_hash = hashlib.sha256(f"198.51.100.{self.rng.randint(1, 254)}".encode()).hexdigest()

        def record(kind: str, seconds: int = 0, target: str = "") -> None:
            self.rows.add(PreviewEvent(lead=self.lead, session_id=session, kind=kind,
                                       seconds=seconds, target=target, user_agent=user_agent,
                                       ip_hash=ip_hash), at=self.t)

        record(PreviewEvent.Kind.VIEW)
        self.event(K.PREVIEW_VIEW, session=session[:8])
        if self.lead.status == S.CONTACTED:
            self.status(S.ENGAGED)
        self.views += 1
        self.lead.last_viewed_at = self.t
        stay = self.rng.randint(8, 140)
        for seconds in range(15, stay, 15):
            self.wait(seconds=15)
            record(PreviewEvent.Kind.PING, seconds)
        if click:
            target = self.rng.choice(CTA_TARGETS)
            record(PreviewEvent.Kind.CTA_CLICK, stay, target)
            self.event(K.CTA_CLICK, target=target)
            self.clicks += 1
        self.wait(seconds=stay % 15 + 1)
        record(PreviewEvent.Kind.LEAVE, stay)
        self.seconds += stay

    def browse(self) -> None:
        """The lead opens the link: a burst that crosses the hot threshold, or a look or two."""
        self.wait(minutes=self.rng.randint(2, 600))
        if self.plan.hot:
            session = hex_id(self.rng, "")
            for n in range(self.rng.randint(3, 4)):
                self.visit(session=session if n < 2 else hex_id(self.rng, ""),
                           click=n == 2 and self.rng.random() < 0.6)
                self.wait(seconds=self.rng.randint(10, 60))
            self.lead.hot_at = self.t
            self.event(K.HOT, views=self.views, window_minutes=10)
            self.notify(Notification.Kind.HOT_LEAD,
                        f"{self.lead.business_name} is hot: {self.views} preview views in 10 minutes")
        else:
            for _ in range(self.rng.randint(1, 2)):
                self.visit(session=hex_id(self.rng, ""), click=self.rng.random() < 0.15)
                self.wait(hours=self.rng.randint(3, 30))

    # -- the story -------------------------------------------------------------------------

    def tell(self) -> None:
        plan, lead, admin = self.plan, self.lead, self.company.admin
        lead.consent_at = self.t
        self.event(K.IMPORTED, admin, batch=plan.batch.pk, row=plan.row)
        if plan.rep:
            self.event(K.ASSIGNED, admin, rep=plan.rep.username)
        lead.status = S.NEW
        if lead.enrichment_status != Lead.PipelineStatus.PENDING:
            lead.enriched_at = self.wait(minutes=self.rng.randint(1, 20))
            data = lead.enrichment_data
            self.event(K.ENRICHED, status=lead.enrichment_status,
                       **({"rating": data["rating"], "reviews": data["review_count"]} if data else {}))
        if lead.first_line_status != Lead.PipelineStatus.DONE:
            return
        self.wait(seconds=self.rng.randint(10, 120))
        self.event(K.PERSONALISED, source=lead.first_line_source)
        self.wait(minutes=self.rng.randint(1, 5))
        self.enrollment = Enrollment(lead=lead, sequence=self.company.sequence)
        self.rows.add(self.enrollment, at=self.t)
        self.event(K.ENROLLED, sequence=self.company.sequence.name)
        self.outreach()

    def outreach(self) -> None:
        plan, steps = self.plan, self.company.steps
        outcome = plan.outcome
        last_step = len(steps) - 1
        pick = self.rng.choice
        view_after = pick([0, 0, 0, 1, 2]) if outcome != S.CONTACTED else None
        reply_after = None
        if outcome in (S.REPLIED, S.NEGOTIATING, S.PAID):
            reply_after = max(view_after or 0, pick([0, 0, 1, 2]))
        elif outcome == S.LOST and self.rng.random() < 0.8:
            reply_after = pick([0, 1, 2])
        flag_number = plan.extras.get("delivery") == "flag_number"
        bounce = plan.extras.get("delivery") == "bounce"

        if outcome == S.NEW:  # enrolled; Day 0 goes out in the next send window
            self.enrollment.next_step = steps[0]
            self.enrollment.next_run_at = next_send_time(self.now, self.lead.time_zone, self.rng)
            return
        due, viewed = self.t, False
        for index, step in enumerate(steps):
            due = due + timedelta(days=step.delay_days)
            if max(due, self.t) >= self.limit:  # not due yet: the enrolment waits for it
                self.enrollment.next_step = step
                self.enrollment.next_run_at = next_send_time(
                    max(due, self.now), self.lead.time_zone, self.rng)
                break
            self.t = max(self.t, due)
            code = "30006" if flag_number else ("30003" if bounce and index == 0 else "")
            self.send(self.render(step.template.body), step=step, failed_code=code)
            due = self.t
            if self.lead.status == S.NEW:
                self.status(S.CONTACTED)
            if flag_number:
                self.lead.number_flagged_at = self.t
                self.stop_sequence("number_flagged")
                return
            if not viewed and view_after is not None and index >= view_after:
                viewed = self.browse_and_follow_up(calls=reply_after is None)
            if reply_after is not None and index >= reply_after:
                self.conversation()
                return
            if index == last_step:
                self.enrollment.status = Enrollment.Status.COMPLETED
        # The story ran into the present before every planned step: let the rest happen now.
        if not viewed and view_after is not None:
            self.browse_and_follow_up(calls=reply_after is None)
        if reply_after is not None:
            self.conversation()
        elif outcome == S.LOST:  # never answered; the rep gave up after a last call
            self.call("not_interested" if self.plan.rep else "no_answer")
            self.stop_sequence("lost")
            self.status(S.LOST, self.plan.rep or self.company.admin)

    def browse_and_follow_up(self, *, calls: bool) -> bool:
        self.browse()
        if calls and self.plan.hot and self.plan.rep:
            self.call(self.rng.choice(["no_answer", "voicemail", "callback", "interested"]))
        return True

    def conversation(self) -> None:
        plan, rep = self.plan, self.plan.rep
        outcome = plan.outcome
        if outcome == S.LOST:
            body = self.rng.choice(REPLIES_NEGATIVE)
            self.receive(body)
            if body == "STOP":
                self.lead.opted_out_at = self.t
                self.event(K.OPT_OUT, keyword="STOP")
                self.stop_sequence("opted_out")
            else:
                self.stop_sequence("replied")
                self.notify(Notification.Kind.REPLY, f"{self.lead.business_name} replied: {body}")
            self.wait(minutes=self.rng.randint(10, 600))
            self.stop_sequence("lost")
            self.status(S.LOST, rep or self.company.admin)
            return
        body = self.rng.choice(REPLIES_POSITIVE)
        self.receive(body)
        self.stop_sequence("replied")
        self.status(S.REPLIED)
        self.notify(Notification.Kind.REPLY, f"{self.lead.business_name} replied: {body}")
        if outcome == S.REPLIED and self.rng.random() < 0.4:
            self.lead.needs_human_at = self.t
            self.notify(Notification.Kind.NEEDS_HUMAN,
                        f"{self.lead.business_name} asked a question nobody has answered yet")
            return
        self.wait(minutes=self.rng.randint(5, 90))
        fee = self.company.settings.setup_fee_cents // 100
        monthly = self.company.settings.monthly_plan_cents // 100
        self.send(f"Thanks {self.lead.contact_first_name or 'there'}! It's ${fee} to launch and "
                  f"${monthly}/month for hosting & care. Can I give you a quick call?", sent_by=rep)
        if outcome == S.REPLIED:
            return
        self.receive(self.rng.choice(["Sure, call me after 2", "Yes call now", "ok"]))
        self.call("interested" if outcome == S.NEGOTIATING else "sold")
        self.status(S.NEGOTIATING, rep)
        if outcome == S.NEGOTIATING:
            return
        self.send(self.render(self.company.checkout_template.body), sent_by=rep)
        self.event(K.CHECKOUT_SENT, rep)
        self.wait(minutes=self.rng.randint(10, 60 * 24 * 3))
        plan.paid_at = self.t
        self.status(S.PAID)

    def finish(self) -> None:
        """Settle the lead's derived fields and queue it with its true times."""
        lead, plan = self.lead, self.plan
        viewed = self.views > 0
        if lead.hot_at and lead.status in (S.ENGAGED, S.REPLIED, S.NEGOTIATING):
            lead.priority = Lead.Priority.HOT if self.now - lead.hot_at < HOT_COOLS_AFTER else Lead.Priority.WARM
        elif viewed and lead.status not in (S.PAID, S.LOST):
            lead.priority = Lead.Priority.WARM
        score = (self.views * 10 + self.clicks * 20 + self.inbound * 15 + self.seconds / 60 * 5) / 100
        lead.engagement_score = round(score, 2)
        if lead.status != plan.outcome:
            raise AssertionError(f"{lead.business_name}: ended {lead.status}, planned {plan.outcome}")
        plan.last_at = self.t
        self.rows.add(lead, at=plan.created_at, updated_at=self.t)


def demo_activity_build(*, plans: list[LeadPlan], company: DemoCompany, rows: RowCollector,
                        rng: random.Random, now: datetime) -> None:
    """Queue every lead and everything that happened to it on `rows` (nothing is saved)."""
    # Some first texts bounce once; a couple of numbers turn out to be landlines.
    contacted = [plan for plan in plans if plan.outcome == S.CONTACTED]
    for n, plan in enumerate(rng.sample(contacted, k=min(7, len(contacted)))):
        plan.extras["delivery"] = "flag_number" if n < 2 else "bounce"
    for plan in plans:
        plan.created_at = plan.batch.created_at + timedelta(seconds=plan.row * 2)
        story = LeadStory(plan, company, rows, rng, now)
        story.tell()
        story.finish()
