-- walhook sample CRM: a small Pipeliner-like schema that no one designed for walhook.
--
-- It shows what a mapping must cope with: uuid, bigint identity and text primary keys; a
-- camelCase table ("SalesUnit") and a camelCase column ("closingDate"); leads and
-- opportunities in one table told apart by record_type; soft-delete flags; join tables;
-- comments; polymorphic document links; custom entities; and a table that is deliberately
-- left out of the mapping (audit_log). schema/sample/mapping.yaml maps it.
--
-- Load it with psql or as one multi-statement query. It is not idempotent: run it once, on
-- a database without a "crm" schema. Seed rows use fixed UUIDs and identity values (1, 2, …
-- in insertion order), so tests and the demo can refer to them.

BEGIN;

CREATE SCHEMA crm;

-- Organisation ---------------------------------------------------------------------------

CREATE TABLE crm."SalesUnit" (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Users of the CRM, who own records.
CREATE TABLE crm.clients (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL UNIQUE,
    first_name    text,
    last_name     text,
    sales_unit_id uuid REFERENCES crm."SalesUnit" (id),
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A lookup table with a text primary key.
CREATE TABLE crm.currencies (
    code   text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    name   text NOT NULL,
    symbol text
);

-- Accounts and contacts ------------------------------------------------------------------

CREATE TABLE crm.accounts (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    owner_id       uuid REFERENCES crm.clients (id),
    email          text,
    phone          text,
    industry       text,
    custom_fields  jsonb NOT NULL DEFAULT '{}',
    tags           text[] NOT NULL DEFAULT '{}',
    internal_notes text,
    is_deleted     boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    modified_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.contacts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name         text,
    last_name          text NOT NULL,
    email1             text,
    email2             text,
    phone              text,
    owner_id           uuid REFERENCES crm.clients (id),
    primary_account_id uuid REFERENCES crm.accounts (id),
    primary_contact_id uuid REFERENCES crm.contacts (id),
    is_deleted         boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    modified_at        timestamptz NOT NULL DEFAULT now()
);

-- Pipelines, leads and opportunities -----------------------------------------------------

CREATE TABLE crm.pipelines (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    is_default boolean NOT NULL DEFAULT false
);

CREATE TABLE crm.sales_steps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id bigint NOT NULL REFERENCES crm.pipelines (id),
    name        text NOT NULL,
    sort_order  integer NOT NULL,
    probability numeric(5, 2) NOT NULL DEFAULT 0
);

-- Leads and opportunities share one table, as in Pipeliner and Odoo; qualifying a lead
-- turns its record_type into 'opportunity'.
CREATE TABLE crm.lead_oppty (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    record_type   text NOT NULL CHECK (record_type IN ('lead', 'opportunity')),
    name          text NOT NULL,
    owner_id      uuid REFERENCES crm.clients (id),
    account_id    uuid REFERENCES crm.accounts (id),
    contact_id    uuid REFERENCES crm.contacts (id),
    step_id       bigint REFERENCES crm.sales_steps (id),
    status        text NOT NULL DEFAULT 'Open' CHECK (status IN ('Open', 'Won', 'Lost')),
    value         numeric(15, 2),
    currency      text REFERENCES crm.currencies (code),
    "closingDate" date,
    is_archived   boolean NOT NULL DEFAULT false,
    is_deleted    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    modified_at   timestamptz NOT NULL DEFAULT now()
);

-- Activities ------------------------------------------------------------------------------

CREATE TABLE crm.tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject     text NOT NULL,
    description text,
    owner_id    uuid REFERENCES crm.clients (id),
    due_date    date,
    status      text NOT NULL DEFAULT 'Planned' CHECK (status IN ('Planned', 'InProgress', 'Completed')),
    priority    smallint NOT NULL DEFAULT 2,
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.contact_task_relations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id uuid NOT NULL REFERENCES crm.contacts (id) ON DELETE CASCADE,
    task_id    bigint NOT NULL REFERENCES crm.tasks (id) ON DELETE CASCADE,
    UNIQUE (contact_id, task_id)
);

CREATE TABLE crm.task_comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    bigint NOT NULL REFERENCES crm.tasks (id) ON DELETE CASCADE,
    contact_id uuid REFERENCES crm.contacts (id),
    author_id  uuid REFERENCES crm.clients (id),
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.appointments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject     text NOT NULL,
    owner_id    uuid REFERENCES crm.clients (id),
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL,
    location    text,
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now(),
    CHECK (end_at >= start_at)
);

CREATE TABLE crm.appointment_comments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    appointment_id uuid NOT NULL REFERENCES crm.appointments (id) ON DELETE CASCADE,
    contact_id     uuid REFERENCES crm.contacts (id),
    author_id      uuid REFERENCES crm.clients (id),
    body           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- E-mails have no owner, so they raise no OwnerChanged.
CREATE TABLE crm.emails (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject    text NOT NULL,
    body       text,
    sender     text NOT NULL,
    recipients text[] NOT NULL DEFAULT '{}',
    contact_id uuid REFERENCES crm.contacts (id),
    sent_at    timestamptz,
    is_deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Products and opportunity line items ----------------------------------------------------

CREATE TABLE crm.products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    sku         text NOT NULL UNIQUE,
    price       numeric(12, 2) NOT NULL DEFAULT 0,
    is_active   boolean NOT NULL DEFAULT true,
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.oppty_product_relations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    oppty_id   uuid NOT NULL REFERENCES crm.lead_oppty (id) ON DELETE CASCADE,
    product_id bigint NOT NULL REFERENCES crm.products (id),
    quantity   integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL
);

-- Documents and their polymorphic links --------------------------------------------------

CREATE TABLE crm.documents (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    url        text NOT NULL,
    mime_type  text,
    size_bytes bigint,
    contact_id uuid REFERENCES crm.contacts (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- entity_type + entity_id point at any record; entity_id is text because keys differ in
-- type (uuid for accounts, bigint for tasks).
CREATE TABLE crm.document_links (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id uuid NOT NULL REFERENCES crm.documents (id) ON DELETE CASCADE,
    entity_type text NOT NULL CHECK (entity_type IN ('account', 'contact', 'lead', 'opportunity',
        'task', 'email', 'appointment', 'ce_bid', 'ce_campaign')),
    entity_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Custom entities ------------------------------------------------------------------------

CREATE TABLE crm.ce_campaigns (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    budget      numeric(14, 2),
    starts_on   date,
    owner_id    uuid REFERENCES crm.clients (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm.ce_bids (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    amount      numeric(14, 2),
    owner_id    uuid REFERENCES crm.clients (id),
    campaign_id bigint REFERENCES crm.ce_campaigns (id),
    is_deleted  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

-- Not mapped on purpose: writes here show that the slot advances past unmapped changes.
CREATE TABLE crm.audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);

-- Seed data ------------------------------------------------------------------------------

INSERT INTO crm."SalesUnit" (id, name) VALUES
    ('5a1e0000-0000-4000-8000-000000000001', 'Europe'),
    ('5a1e0000-0000-4000-8000-000000000002', 'Americas');

INSERT INTO crm.clients (id, email, first_name, last_name, sales_unit_id) VALUES
    ('9900cce6-bcd6-412a-bcd1-1904556c949a', 'jana.novak@example.com', 'Jana', 'Novak', '5a1e0000-0000-4000-8000-000000000001'),
    ('c1000000-0000-4000-8000-000000000002', 'tom.baker@example.com', 'Tom', 'Baker', '5a1e0000-0000-4000-8000-000000000002'),
    ('c1000000-0000-4000-8000-000000000003', 'ines.moreau@example.com', 'Inès', 'Moreau', '5a1e0000-0000-4000-8000-000000000001');

INSERT INTO crm.currencies (code, name, symbol) VALUES
    ('EUR', 'Euro', '€'),
    ('USD', 'US dollar', '$'),
    ('GBP', 'Pound sterling', '£');

INSERT INTO crm.accounts (id, name, owner_id, email, phone, industry, custom_fields, tags, internal_notes) VALUES
    ('ac000000-0000-4000-8000-000000000001', 'Acme Corporation', '9900cce6-bcd6-412a-bcd1-1904556c949a',
     'info@acme.example', '+1 555 0100', 'Manufacturing', '{"tier": "gold", "employees": 1200}', '{key,manufacturing}', 'Pays late.'),
    ('ac000000-0000-4000-8000-000000000002', 'Globex', 'c1000000-0000-4000-8000-000000000002',
     'hello@globex.example', '+1 555 0199', 'Energy', '{"tier": "silver"}', '{energy}', NULL),
    ('ac000000-0000-4000-8000-000000000003', 'Initech', '9900cce6-bcd6-412a-bcd1-1904556c949a',
     'contact@initech.example', NULL, 'Software', '{}', '{}', NULL);

INSERT INTO crm.contacts (id, first_name, last_name, email1, email2, phone, owner_id, primary_account_id, primary_contact_id) VALUES
    ('c0000000-0000-4000-8000-000000000001', 'Wile', 'Coyote', 'wile.coyote@acme.example', 'wile@home.example', '+1 555 0101',
     '9900cce6-bcd6-412a-bcd1-1904556c949a', 'ac000000-0000-4000-8000-000000000001', NULL),
    ('c0000000-0000-4000-8000-000000000002', 'Road', 'Runner', 'road.runner@acme.example', NULL, NULL,
     '9900cce6-bcd6-412a-bcd1-1904556c949a', 'ac000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001'),
    ('c0000000-0000-4000-8000-000000000003', 'Hank', 'Scorpio', 'hank@globex.example', NULL, '+1 555 0198',
     'c1000000-0000-4000-8000-000000000002', 'ac000000-0000-4000-8000-000000000002', NULL),
    ('c0000000-0000-4000-8000-000000000004', 'Peter', 'Gibbons', 'peter.gibbons@initech.example', 'pgibbons@mail.example', NULL,
     'c1000000-0000-4000-8000-000000000003', 'ac000000-0000-4000-8000-000000000003', NULL);

INSERT INTO crm.pipelines (name, is_default) VALUES ('New business', true), ('Renewals', false);

INSERT INTO crm.sales_steps (pipeline_id, name, sort_order, probability) VALUES
    (1, 'Qualification', 1, 10),
    (1, 'Proposal', 2, 40),
    (1, 'Negotiation', 3, 70),
    (2, 'Renewal due', 1, 50),
    (2, 'Renewal signed', 2, 90);

INSERT INTO crm.lead_oppty (id, record_type, name, owner_id, account_id, contact_id, step_id, status, value, currency, "closingDate") VALUES
    ('1ead0000-0000-4000-8000-000000000001', 'lead', 'Acme rockets inquiry', '9900cce6-bcd6-412a-bcd1-1904556c949a',
     'ac000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', NULL, 'Open', 5000.00, 'USD', NULL),
    ('1ead0000-0000-4000-8000-000000000002', 'lead', 'Initech printers', 'c1000000-0000-4000-8000-000000000003',
     'ac000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000004', NULL, 'Open', NULL, NULL, NULL),
    ('0f000000-0000-4000-8000-000000000001', 'opportunity', 'Acme anvils 2025', '9900cce6-bcd6-412a-bcd1-1904556c949a',
     'ac000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000002', 2, 'Open', 125000.00, 'USD', '2025-09-30'),
    ('0f000000-0000-4000-8000-000000000002', 'opportunity', 'Globex turbines', 'c1000000-0000-4000-8000-000000000002',
     'ac000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000003', 3, 'Open', 480000.00, 'EUR', '2025-12-15'),
    ('0f000000-0000-4000-8000-000000000003', 'opportunity', 'Initech TPS licences', 'c1000000-0000-4000-8000-000000000003',
     'ac000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000004', 5, 'Won', 18000.00, 'GBP', '2025-03-01');

INSERT INTO crm.tasks (subject, description, owner_id, due_date, status, priority) VALUES
    ('Call Wile about anvils', 'Confirm quantities.', '9900cce6-bcd6-412a-bcd1-1904556c949a', '2025-06-01', 'Planned', 1),
    ('Send Globex proposal', NULL, 'c1000000-0000-4000-8000-000000000002', '2025-06-10', 'InProgress', 2),
    ('Renew Initech contract', NULL, 'c1000000-0000-4000-8000-000000000003', '2025-02-20', 'Completed', 3);

INSERT INTO crm.contact_task_relations (contact_id, task_id) VALUES
    ('c0000000-0000-4000-8000-000000000001', 1),
    ('c0000000-0000-4000-8000-000000000002', 1),
    ('c0000000-0000-4000-8000-000000000003', 2),
    ('c0000000-0000-4000-8000-000000000004', 3);

INSERT INTO crm.task_comments (task_id, contact_id, author_id, body) VALUES
    (1, 'c0000000-0000-4000-8000-000000000001', '9900cce6-bcd6-412a-bcd1-1904556c949a', 'Wile wants a bulk discount.'),
    (2, 'c0000000-0000-4000-8000-000000000003', 'c1000000-0000-4000-8000-000000000002', 'Draft sent for review.');

INSERT INTO crm.appointments (id, subject, owner_id, start_at, end_at, location) VALUES
    ('a9900000-0000-4000-8000-000000000001', 'Acme site visit', '9900cce6-bcd6-412a-bcd1-1904556c949a',
     '2025-06-03 09:00:00+00', '2025-06-03 11:00:00+00', 'Acme HQ, Desert Road 1'),
    ('a9900000-0000-4000-8000-000000000002', 'Globex kickoff call', 'c1000000-0000-4000-8000-000000000002',
     '2025-06-12 15:00:00+00', '2025-06-12 15:30:00+00', NULL);

INSERT INTO crm.appointment_comments (appointment_id, contact_id, author_id, body) VALUES
    ('a9900000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', '9900cce6-bcd6-412a-bcd1-1904556c949a', 'Bring the catalogue.');

INSERT INTO crm.emails (id, subject, body, sender, recipients, contact_id, sent_at) VALUES
    ('e0000000-0000-4000-8000-000000000001', 'Anvil pricing', 'Please find our prices attached.', 'jana.novak@example.com',
     '{wile.coyote@acme.example}', 'c0000000-0000-4000-8000-000000000001', '2025-05-20 10:15:00+00'),
    ('e0000000-0000-4000-8000-000000000002', 'Re: turbines', 'Thanks, we will review.', 'hank@globex.example',
     '{tom.baker@example.com}', 'c0000000-0000-4000-8000-000000000003', '2025-05-22 08:40:00+00');

INSERT INTO crm.products (name, sku, price) VALUES
    ('Anvil, 50 kg', 'ANV-50', 199.00),
    ('Rocket skates', 'RSK-01', 349.50),
    ('Gas turbine service', 'GTS-SVC', 12000.00);

INSERT INTO crm.oppty_product_relations (oppty_id, product_id, quantity, unit_price) VALUES
    ('0f000000-0000-4000-8000-000000000001', 1, 500, 189.00),
    ('0f000000-0000-4000-8000-000000000001', 2, 20, 349.50),
    ('0f000000-0000-4000-8000-000000000002', 3, 40, 12000.00);

INSERT INTO crm.documents (id, name, url, mime_type, size_bytes, contact_id) VALUES
    ('d0c00000-0000-4000-8000-000000000001', 'anvil-pricing.pdf', 'https://files.example.com/anvil-pricing.pdf',
     'application/pdf', 48213, 'c0000000-0000-4000-8000-000000000001'),
    ('d0c00000-0000-4000-8000-000000000002', 'turbine-spec.docx', 'https://files.example.com/turbine-spec.docx',
     'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 130552, 'c0000000-0000-4000-8000-000000000003');

INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES
    ('d0c00000-0000-4000-8000-000000000001', 'account', 'ac000000-0000-4000-8000-000000000001'),
    ('d0c00000-0000-4000-8000-000000000001', 'opportunity', '0f000000-0000-4000-8000-000000000001'),
    ('d0c00000-0000-4000-8000-000000000002', 'task', '2');

INSERT INTO crm.ce_campaigns (name, budget, starts_on, owner_id) VALUES
    ('Spring promo', 25000.00, '2025-03-01', '9900cce6-bcd6-412a-bcd1-1904556c949a'),
    ('Trade fair 2025', 80000.00, '2025-10-10', 'c1000000-0000-4000-8000-000000000002');

INSERT INTO crm.ce_bids (id, name, amount, owner_id, campaign_id) VALUES
    ('b1d00000-0000-4000-8000-000000000001', 'Important: Acme bulk bid', 94500.00, '9900cce6-bcd6-412a-bcd1-1904556c949a', 1),
    ('b1d00000-0000-4000-8000-000000000002', 'Globex fair stand', 12000.00, 'c1000000-0000-4000-8000-000000000002', 2);

INSERT INTO crm.audit_log (message) VALUES ('sample CRM loaded');

COMMIT;
