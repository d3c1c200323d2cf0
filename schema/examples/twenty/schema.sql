-- A Twenty-shaped CRM schema: one PostgreSQL schema per workspace, singular table names,
-- uuid keys with defaults, camelCase column names (quoted in SQL), composite fields
-- flattened into columns (nameFirstName, amountAmountMicros), soft delete by a "deletedAt"
-- timestamp on every table, the opportunity's stage as text, and notes and tasks attached to
-- records through "noteTarget"/"taskTarget" rows holding one nullable foreign key per kind
-- of record. Modelled on Twenty's standard objects (person, company, opportunity, note,
-- noteTarget, task, taskTarget, workspaceMember); trimmed to the columns the test uses.
CREATE SCHEMA "workspace_1wgvd1injqtife6y4rvfbu3h5";
SET search_path TO "workspace_1wgvd1injqtife6y4rvfbu3h5";

CREATE TABLE "workspaceMember" (
    "id"            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "nameFirstName" text NOT NULL DEFAULT '',
    "nameLastName"  text NOT NULL DEFAULT '',
    "userEmail"     text,
    "deletedAt"     timestamptz
);

CREATE TABLE "company" (
    "id"                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "name"                     text,
    "domainNamePrimaryLinkUrl" text,
    "employees"                double precision,
    "accountOwnerId"           uuid REFERENCES "workspaceMember" ("id") ON DELETE SET NULL,
    "position"                 double precision,
    "createdAt"                timestamptz NOT NULL DEFAULT now(),
    "updatedAt"                timestamptz NOT NULL DEFAULT now(),
    "deletedAt"                timestamptz
);

CREATE TABLE "person" (
    "id"                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "nameFirstName"      text NOT NULL DEFAULT '',
    "nameLastName"       text NOT NULL DEFAULT '',
    "emailsPrimaryEmail" text NOT NULL DEFAULT '',
    "jobTitle"           text NOT NULL DEFAULT '',
    "companyId"          uuid REFERENCES "company" ("id") ON DELETE SET NULL,
    "position"           double precision,
    "createdAt"          timestamptz NOT NULL DEFAULT now(),
    "updatedAt"          timestamptz NOT NULL DEFAULT now(),
    "deletedAt"          timestamptz
);

CREATE TABLE "opportunity" (
    "id"                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "name"               text NOT NULL DEFAULT '',
    "amountAmountMicros" numeric,
    "amountCurrencyCode" text,
    "closeDate"          timestamptz,
    "stage"              text NOT NULL DEFAULT 'NEW',
    "pointOfContactId"   uuid REFERENCES "person" ("id") ON DELETE SET NULL,
    "companyId"          uuid REFERENCES "company" ("id") ON DELETE SET NULL,
    "ownerId"            uuid REFERENCES "workspaceMember" ("id") ON DELETE SET NULL,
    "position"           double precision,
    "createdAt"          timestamptz NOT NULL DEFAULT now(),
    "updatedAt"          timestamptz NOT NULL DEFAULT now(),
    "deletedAt"          timestamptz
);

CREATE TABLE "note" (
    "id"             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "title"          text NOT NULL DEFAULT '',
    "bodyV2Markdown" text,
    "position"       double precision,
    "createdAt"      timestamptz NOT NULL DEFAULT now(),
    "updatedAt"      timestamptz NOT NULL DEFAULT now(),
    "deletedAt"      timestamptz
);

CREATE TABLE "noteTarget" (
    "id"            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "noteId"        uuid REFERENCES "note" ("id") ON DELETE CASCADE,
    "personId"      uuid REFERENCES "person" ("id") ON DELETE CASCADE,
    "companyId"     uuid REFERENCES "company" ("id") ON DELETE CASCADE,
    "opportunityId" uuid REFERENCES "opportunity" ("id") ON DELETE CASCADE,
    "createdAt"     timestamptz NOT NULL DEFAULT now(),
    "updatedAt"     timestamptz NOT NULL DEFAULT now(),
    "deletedAt"     timestamptz
);

CREATE TABLE "task" (
    "id"             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "title"          text NOT NULL DEFAULT '',
    "bodyV2Markdown" text,
    "dueAt"          timestamptz,
    "status"         text DEFAULT 'TODO',
    "assigneeId"     uuid REFERENCES "workspaceMember" ("id") ON DELETE SET NULL,
    "position"       double precision,
    "createdAt"      timestamptz NOT NULL DEFAULT now(),
    "updatedAt"      timestamptz NOT NULL DEFAULT now(),
    "deletedAt"      timestamptz
);

CREATE TABLE "taskTarget" (
    "id"            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "taskId"        uuid REFERENCES "task" ("id") ON DELETE CASCADE,
    "personId"      uuid REFERENCES "person" ("id") ON DELETE CASCADE,
    "companyId"     uuid REFERENCES "company" ("id") ON DELETE CASCADE,
    "opportunityId" uuid REFERENCES "opportunity" ("id") ON DELETE CASCADE,
    "createdAt"     timestamptz NOT NULL DEFAULT now(),
    "updatedAt"     timestamptz NOT NULL DEFAULT now(),
    "deletedAt"     timestamptz
);

INSERT INTO "workspaceMember" ("id", "nameFirstName", "nameLastName", "userEmail") VALUES
    ('20202020-0687-4c41-b707-ed1bfca972a7', 'Tim', 'Apple', 'tim@apple.dev'),
    ('20202020-77d5-4cb6-b60a-f4a835a85d61', 'Phil', 'Schiller', 'phil@apple.dev');
RESET search_path;
