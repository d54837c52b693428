"""A demo data set: French and Maghreb customers, a team per queue, a user per role, history, complaints."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import complaints as rules
from app.security import hash_password
from core.models import (
    Account,
    Call,
    CallDirection,
    Complaint,
    ComplaintStatus,
    Contact,
    DispositionCode,
    Interaction,
    InteractionKind,
    NumberKind,
    PauseReason,
    PhoneNumber,
    Queue,
    QueueMember,
    Role,
    Team,
    Tier,
    User,
    utcnow,
)
from cti.numbers import parse
from cti.phones import ha1, new_password

DEMO_PASSWORD = "plateau-demo"  # printed by `plateau demo`; demo data only

ACCOUNTS = [
    ("Boulangeries Lefèvre", Tier.gold, "commerce"),
    ("Atlas Télécom", Tier.vip, "télécoms"),
    ("Mutuelle du Rhône", Tier.standard, "assurance"),
    ("Transports Benali", Tier.standard, "logistique"),
    ("Cabinet Haddad & Associés", Tier.gold, "conseil"),
    ("Société Générale d'Équipement", Tier.vip, "industrie"),
    ("Dar El Makhzen Hôtels", Tier.gold, "hôtellerie"),
    ("Clinique Saint-Exupéry", Tier.standard, "santé"),
]
CONTACTS = [
    ("Hélène", "Lefèvre", 0, "decision_maker", "06 12 34 56 78"),
    ("Jérôme", "Lefèvre", 0, "user", "01 45 67 89 10"),
    ("Youssef", "El Amrani", 1, "decision_maker", "+212 6 61 23 45 67"),
    ("Nadia", "Bensaïd", 1, "gatekeeper", "+212 5 22 12 34 56"),
    ("Pierre", "Martin", 2, "user", "04 78 12 34 56"),
    ("Karim", "Benali", 3, "decision_maker", "06 98 76 54 32"),
    ("Samira", "Haddad", 4, "decision_maker", "+213 550 12 34 56"),
    ("François", "Dubois", 5, "decision_maker", "03 20 12 34 56"),
    ("Leïla", "Trabelsi", 6, "user", "+216 71 234 567"),
    ("Amélie", "Rousseau", 7, "user", "05 56 12 34 56"),
    ("Mehdi", "Chaouch", None, None, "07 81 23 45 67"),
    ("Chloé", "Garnier", None, None, "06 11 22 33 44"),
]
DISPOSITIONS = [
    ("resolu", "Demande résolue", "success"),
    ("rappel", "À rappeler", "callback"),
    ("info", "Information donnée", "info"),
    ("reclamation", "Réclamation enregistrée", "complaint"),
    ("vente", "Vente conclue", "success"),
    ("refus", "Refus", "refused"),
    ("faux_numero", "Faux numéro", "invalid"),
]
PAUSES = [
    ("dejeuner", "Déjeuner"),
    ("formation", "Formation"),
    ("brief", "Brief d'équipe"),
    ("admin", "Tâches administratives"),
]


DEMO_LOGINS = ("agent1", "agent2", "agent3", "demo-supervisor", "demo-manager", "demo-admin")
# The newcomer's own desks carry the browser phone: it registers with the stored hash, so its password is
# drawn once and never shown. agent2 and agent3 are SIP phones (`plateau demo --live` runs them in SIPp).
BROWSER_PHONES = ("agent1", "demo-supervisor")


def sign_in_text(url: str) -> str:
    """How to use the demo, printed whether it was just seeded or already there."""
    return (
        f"sign in at {url}/login as {', '.join(DEMO_LOGINS)} (password: {DEMO_PASSWORD}); "
        f"{' and '.join(BROWSER_PHONES)} have the desk's browser phone; "
        "give a SIP phone its password with `plateau phone reset-password agent2`"
    )


async def seed_demo(session: AsyncSession, seed: int = 7) -> str:
    if await session.scalar(select(User.id).where(User.username == "demo-admin")):
        return "demo data already present (user demo-admin exists); nothing changed"
    rnd, now = random.Random(seed), utcnow()
    support, ventes = Team(name="Support client"), Team(name="Ventes")
    session.add_all([support, ventes])
    await session.flush()
    q_support = Queue(name="support", display_name="Support", team_id=support.id, service_level_s=20)
    q_sales = Queue(name="sales", display_name="Ventes", team_id=ventes.id, service_level_s=30)
    session.add_all([q_support, q_sales])
    pw = hash_password(DEMO_PASSWORD)
    users = [
        User(
            username=f"agent{i}",
            display_name=name,
            role=Role.agent,
            password_hash=pw,
            sip_endpoint=f"agent{i}",
            team_id=(support if i <= 2 else ventes).id,
        )
        for i, name in [(1, "Sophie Moreau"), (2, "Rachid Belkacem"), (3, "Julie Bernard")]
    ]
    users += [
        User(
            username="demo-supervisor",
            display_name="Claire Petit",
            role=Role.supervisor,
            password_hash=pw,
            team_id=support.id,
            sip_endpoint="supervisor1",
        ),
        User(username="demo-manager", display_name="Marc Laurent", role=Role.manager, password_hash=pw),
        User(username="demo-admin", display_name="Admin", role=Role.admin, password_hash=pw, language="en"),
    ]
    for user in users:
        if user.username in BROWSER_PHONES:
            user.sip_kind, user.sip_password_set_at = "webrtc", now
            user.sip_ha1 = ha1(user.sip_endpoint or "", new_password())
    session.add_all(users)
    session.add_all([DispositionCode(code=c, label=label, category=cat) for c, label, cat in DISPOSITIONS])
    session.add_all([PauseReason(code=c, label=label) for c, label in PAUSES])
    await session.flush()
    session.add_all(
        [
            QueueMember(queue_id=(q_support if u.team_id == support.id else q_sales).id, user_id=u.id)
            for u in users[:3]
        ]
    )
    accounts = [Account(name=n, tier=t, segment=s) for n, t, s in ACCOUNTS]
    session.add_all(accounts)
    await session.flush()
    contacts = []
    for first, last, acc, role, number in CONTACTS:
        p = parse(number)
        c = Contact(
            first_name=first,
            last_name=last,
            role=role,
            account_id=accounts[acc].id if acc is not None else None,
            tier=accounts[acc].tier if acc is not None else Tier.standard,
            numbers=[
                PhoneNumber(
                    e164=p.e164,
                    suffix_key=p.suffix_key,
                    kind=NumberKind("mobile" if p.kind == "mobile" else "landline"),
                    raw=number,
                )
            ],
        )
        contacts.append(c)
    session.add_all(contacts)
    await session.flush()
    agents = users[:3]
    calls = 0
    for i in range(60):
        contact = rnd.choice(contacts)
        agent = rnd.choice(agents)
        offered = now - timedelta(
            days=rnd.randint(0, 27), hours=rnd.randint(0, 9), minutes=rnd.randint(0, 59)
        )
        abandoned = rnd.random() < 0.1
        wait = rnd.uniform(2, 90)
        talk = None if abandoned else rnd.uniform(40, 600)
        call = Call(
            linkedid=f"demo.{i}",
            direction=CallDirection.inbound,
            caller_number=contact.numbers[0].e164,
            caller_name=f"{contact.first_name} {contact.last_name}",
            called_number="0170000000",
            queue="support" if agent.team_id == support.id else "sales",
            agent_id=None if abandoned else agent.id,
            contact_id=contact.id,
            offered_at=offered,
            answered_at=None if abandoned else offered + timedelta(seconds=wait),
            ended_at=offered + timedelta(seconds=wait + (talk or 0)),
            wait_s=wait,
            talk_s=talk,
            wrap_s=None if abandoned else rnd.uniform(5, 60),
            outcome="abandoned" if abandoned else "answered",
            hangup_cause=16,
        )
        session.add(call)
        await session.flush()
        calls += 1
        session.add(
            Interaction(
                contact_id=contact.id,
                account_id=contact.account_id,
                kind=InteractionKind.call,
                call_id=call.id,
                agent_id=call.agent_id,
                at=offered,
                data={"outcome": call.outcome, "queue": call.queue},
            )
        )
        if not abandoned:
            code, label, _ = rnd.choice(DISPOSITIONS)
            session.add(
                Interaction(
                    contact_id=contact.id,
                    account_id=contact.account_id,
                    kind=InteractionKind.disposition,
                    call_id=call.id,
                    agent_id=agent.id,
                    disposition_code=code,
                    body=label,
                    at=call.ended_at,
                )
            )
    statuses = [
        ComplaintStatus.open,
        ComplaintStatus.in_progress,
        ComplaintStatus.resolved,
        ComplaintStatus.closed,
        ComplaintStatus.open,
    ]
    for i, status in enumerate(statuses):
        contact = contacts[i * 2]
        received = now - timedelta(days=[3, 20, 40, 70, 75][i])
        due = rules.deadlines(received, ack_working_days=10, answer_months=2)
        session.add(
            Complaint(
                contact_id=contact.id,
                category=["facturation", "délai", "qualité", "accueil", "facturation"][i],
                description="Le client conteste une facture reçue deux fois."
                if i % 2 == 0
                else "Livraison en retard.",
                status=status,
                owner_id=agents[i % 3].id,
                received_at=received,
                ack_due_at=due.ack_due_at,
                answer_due_at=due.answer_due_at,
                acknowledged_at=received + timedelta(days=2) if status is not ComplaintStatus.open else None,
                resolved_at=received + timedelta(days=30)
                if status in (ComplaintStatus.resolved, ComplaintStatus.closed)
                else None,
                closed_at=received + timedelta(days=35) if status is ComplaintStatus.closed else None,
            )
        )
    await session.commit()
    assert tuple(u.username for u in users) == DEMO_LOGINS
    return (
        f"demo data: {len(accounts)} accounts, {len(contacts)} contacts, {calls} calls, "
        f"{len(statuses)} complaints"
    )
