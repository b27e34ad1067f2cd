"""What the consent rules cost: ``check_outreach`` per template send (a marketing template
with every rule on, and a utility template: the do-not-contact look-up only), and the
do-not-contact import (rows/s), on SQLite and PostgreSQL.

    python bench/consent.py --checks 2000 --listed 100000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database, machine, percentile, table  # noqa: E402
from runtime.db.session import make_engine, make_sessionmaker  # noqa: E402
from runtime.domain import consent, do_not_contact  # noqa: E402
from runtime.domain.eligibility import check_outreach  # noqa: E402
from runtime.domain.tenants import create_admin, create_tenant  # noqa: E402
from runtime.models import Contact  # noqa: E402

NOON_UTC = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # 12:00 in Jakarta: outside quiet hours


async def run(backend: str, url: str, checks: int, listed: int) -> list[list[object]]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            tenant = await create_tenant(session, "bench", "Bench", "ID")
            admin = await create_admin(session, tenant, "a@bench.example", "A", "bench password")
            await consent.update_policy(
                session,
                tenant.id,
                {
                    "marketing_limit_count": 3,
                    "marketing_limit_days": 7,
                    "quiet_start": "21:00",
                    "quiet_end": "08:00",
                },
            )
            contact = Contact(id=uuid.uuid4(), tenant_id=tenant.id, phone="+6281399999999")
            session.add(contact)
            await session.commit()
            tenant_id, admin_id, contact_id = tenant.id, admin.id, contact.id

        rows = ((i, {"phone": f"0813{i:08d}"}) for i in range(listed))
        started = time.perf_counter()
        async with sessions() as session:
            report = await do_not_contact.import_phones(
                session, tenant_id, "ID", rows, "", admin_id, NOON_UTC, listed
            )
            await session.commit()
        import_seconds = time.perf_counter() - started
        assert report.created == listed, report

        results: list[list[object]] = [
            [
                backend,
                f"do-not-contact import of {listed:,} rows",
                f"{listed / import_seconds:,.0f} rows/s",
                "",
                "",
            ]
        ]
        for category in ("MARKETING", "UTILITY"):
            latencies = []
            async with sessions() as session:
                for _ in range(checks):
                    t0 = time.perf_counter()
                    found = await session.get(Contact, contact_id)
                    assert found is not None
                    verdict = await check_outreach(session, tenant_id, found, category, NOON_UTC)
                    await session.rollback()  # one send's transaction (the cap's lock ends)
                    latencies.append(time.perf_counter() - t0)
                    assert verdict.allowed, verdict
            total = sum(latencies)
            results.append(
                [
                    backend,
                    f"check_outreach, {category.lower()}",
                    f"{checks / total:,.0f} checks/s",
                    f"{percentile(latencies, 0.5) * 1000:.2f}",
                    f"{percentile(latencies, 0.99) * 1000:.2f}",
                ]
            )
        return results
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--listed", type=int, default=100_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends:
            with database(backend, Path(workdir)) as url:
                rows += asyncio.run(run(backend, url, args.checks, args.listed))
    print(machine())
    print(f"(each check: a fresh transaction; {timedelta(days=7).days}-day cap, quiet hours on)")
    print(table(["backend", "what", "rate", "p50 ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()
