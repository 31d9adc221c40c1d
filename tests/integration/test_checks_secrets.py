"""secret_in_catalog on a real database: keys in function bodies, trigger arguments, column
defaults and views are found, redacted, and readable by any role (which is the point)."""

from __future__ import annotations

import json

from prodready.model import Severity
from tests.conftest import TestDatabase
from tests.unit.test_code_secrets import jwt

CHECK = "secret_in_catalog"
STRIPE = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt"


def test_keys_in_the_catalog_are_found_and_never_printed(db: TestDatabase) -> None:
    service = jwt(role="service_role", iss="supabase")
    anon = jwt(role="anon", iss="supabase")
    db.execute(
        f"""
        CREATE TABLE sc_orders (id int, note text DEFAULT 'AKIAJ2QX7V5ZK3LMNOPQ');
        CREATE FUNCTION sc_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM set_config('x.auth', 'Bearer ' || TG_ARGV[0], true);
          RETURN NEW;
        END $$;
        CREATE TRIGGER sc_notify AFTER INSERT ON sc_orders
          FOR EACH ROW EXECUTE FUNCTION sc_notify('{service}');
        CREATE FUNCTION sc_charge() RETURNS text LANGUAGE sql AS $$
          SELECT 'stripe key: {STRIPE}' $$;
        CREATE VIEW sc_config AS SELECT '{STRIPE}'::text AS key;
        CREATE FUNCTION sc_public_key() RETURNS text LANGUAGE sql AS $$ SELECT '{anon}' $$;
        CREATE FUNCTION sc_example() RETURNS text LANGUAGE sql AS
          $$ SELECT 'AKIAIOSFODNN7EXAMPLE' $$;
        """
    )
    found = {x.object: x for x in db.findings(CHECK) if "sc_" in x.object}
    assert sorted(found) == [
        'public.sc_charge()',
        'public.sc_config',
        'public.sc_orders (trigger sc_notify)',
        'public.sc_orders.note',
    ]  # fmt: skip
    trigger = found["public.sc_orders (trigger sc_notify)"]
    assert trigger.severity is Severity.CRITICAL
    assert trigger.evidence["secrets"][0]["kind"] == "Supabase service_role key"
    assert found["public.sc_orders.note"].evidence["where"] == "column default"
    assert found["public.sc_config"].evidence["where"] == "view definition"
    everything = json.dumps([x.to_json() for x in found.values()])
    assert STRIPE not in everything and service not in everything
    assert "AKIAJ2QX7V5ZK3LMNOPQ" not in everything
