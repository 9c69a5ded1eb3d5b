"""PostgreSQL: app rows are checked against their devices once a statement, not once a row (issue 3).

An inventory import writes about 80 app rows a device. The foreign key from `device_apps` to `devices`
checked each row on its own (a trigger and a locking look-up per row), which cost about as much as the COPY
of the rows itself. Statement-level triggers keep the same guarantees at the cost of one look-up per
distinct device of a statement:

- rows added to `device_apps` must name stored devices; each such device is locked `FOR KEY SHARE`, as the
  foreign key's check locks it, so a device cannot be deleted under rows being added to it (the deletion waits
  for the adding transaction, then takes its rows too). A missing device raises `foreign_key_violation` with
  the foreign key's name, so callers see the same IntegrityError as before;
- deleting devices deletes their app rows (as `ON DELETE CASCADE` did);
- a device's id, or an app row's device, never changes (the foreign key refused such an update too).

SQLite keeps the foreign key (it has no statement triggers with transition tables, and its imports are small).

Revision ID: 0008
Revises: 0007
Created: written by hand
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TABLE device_apps DROP CONSTRAINT fk_device_apps_device_id_devices;

CREATE FUNCTION appban_app_rows_have_devices() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    held bigint;
    missing text;
BEGIN
    SELECT count(DISTINCT device_id) INTO wanted FROM added;
    -- one index probe a device (LATERAL keeps the plan a nested loop whatever the table's size)
    SELECT count(*) INTO held FROM (SELECT DISTINCT device_id FROM added) AS named
        CROSS JOIN LATERAL (SELECT 1 FROM devices WHERE devices.id = named.device_id FOR KEY SHARE) AS locked;
    IF held < wanted THEN
        SELECT device_id INTO missing FROM added
            WHERE NOT EXISTS (SELECT 1 FROM devices WHERE devices.id = added.device_id) LIMIT 1;
        RAISE foreign_key_violation USING
            MESSAGE = 'app rows name device ' || quote_literal(missing) || ', which does not exist',
            CONSTRAINT = 'fk_device_apps_device_id_devices', TABLE = 'device_apps';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER app_rows_have_devices AFTER INSERT ON device_apps REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION appban_app_rows_have_devices();

CREATE FUNCTION appban_devices_take_their_app_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM device_apps USING (SELECT DISTINCT id FROM removed) AS gone WHERE device_apps.device_id = gone.id;
    RETURN NULL;
END $$;

CREATE TRIGGER devices_take_their_app_rows AFTER DELETE ON devices REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION appban_devices_take_their_app_rows();

CREATE FUNCTION appban_devices_keep_their_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = 'device ' || quote_literal(OLD.id) || ' cannot be renamed: app rows name it',
        CONSTRAINT = 'fk_device_apps_device_id_devices', TABLE = 'devices';
END $$;

CREATE TRIGGER devices_keep_their_ids BEFORE UPDATE OF id ON devices
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION appban_devices_keep_their_ids();

CREATE FUNCTION appban_app_rows_keep_their_devices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = 'app rows of device ' || quote_literal(OLD.device_id) || ' cannot move to another device',
        CONSTRAINT = 'fk_device_apps_device_id_devices', TABLE = 'device_apps';
END $$;

CREATE TRIGGER app_rows_keep_their_devices BEFORE UPDATE OF device_id ON device_apps
    FOR EACH ROW WHEN (OLD.device_id IS DISTINCT FROM NEW.device_id)
    EXECUTE FUNCTION appban_app_rows_keep_their_devices();
"""

DOWNGRADE = """
DROP TRIGGER app_rows_keep_their_devices ON device_apps;
DROP FUNCTION appban_app_rows_keep_their_devices();
DROP TRIGGER devices_keep_their_ids ON devices;
DROP FUNCTION appban_devices_keep_their_ids();
DROP TRIGGER devices_take_their_app_rows ON devices;
DROP FUNCTION appban_devices_take_their_app_rows();
DROP TRIGGER app_rows_have_devices ON device_apps;
DROP FUNCTION appban_app_rows_have_devices();
ALTER TABLE device_apps ADD CONSTRAINT fk_device_apps_device_id_devices FOREIGN KEY (device_id) REFERENCES devices (id)
    ON DELETE CASCADE;
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(UPGRADE)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(DOWNGRADE)
