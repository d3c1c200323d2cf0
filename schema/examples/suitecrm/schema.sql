-- A SuiteCRM/SugarCRM-shaped CRM schema, ported to PostgreSQL the way a MySQL-to-PostgreSQL
-- migration leaves it: char(36) ids written by the application (no defaults), a `deleted`
-- flag (tinyint(1) → smallint) on every table instead of DELETE, `assigned_user_id` as the
-- owner, `sales_stage` with 'Closed Won'/'Closed Lost', notes and tasks attached to any
-- record through parent_type (a module name) + parent_id, and many-to-many relationship
-- tables with their own id, an (lhs, rhs) alternate key and a `deleted` flag, which the ORM
-- sets to remove a relationship and clears to add it again. Modelled on SuiteCRM's vardefs
-- (modules/*/vardefs.php, metadata/*MetaData.php); trimmed to the columns the test uses.
CREATE SCHEMA suite;

CREATE TABLE suite.users (
    id            char(36) PRIMARY KEY,
    user_name     varchar(60),
    deleted       smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.accounts (
    id               char(36) PRIMARY KEY,
    name             varchar(150),
    date_entered     timestamp,
    date_modified    timestamp,
    assigned_user_id char(36),
    account_type     varchar(50),
    industry         varchar(50),
    billing_address_city varchar(100),
    deleted          smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.contacts (
    id               char(36) PRIMARY KEY,
    first_name       varchar(100),
    last_name        varchar(100),
    title            varchar(100),
    assigned_user_id char(36),
    date_modified    timestamp,
    deleted          smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.leads (
    id               char(36) PRIMARY KEY,
    first_name       varchar(100),
    last_name        varchar(100),
    status           varchar(100),
    converted        smallint NOT NULL DEFAULT 0,
    account_id       char(36),
    contact_id       char(36),
    opportunity_id   char(36),
    assigned_user_id char(36),
    deleted          smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.opportunities (
    id               char(36) PRIMARY KEY,
    name             varchar(50),
    amount           double precision,
    date_closed      date,
    sales_stage      varchar(255),
    probability      double precision,
    assigned_user_id char(36),
    date_modified    timestamp,
    deleted          smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.accounts_opportunities (
    id             char(36) PRIMARY KEY,
    opportunity_id char(36) NOT NULL,
    account_id     char(36) NOT NULL,
    date_modified  timestamp,
    deleted        smallint NOT NULL DEFAULT 0,
    UNIQUE (account_id, opportunity_id)
);

CREATE TABLE suite.tasks (
    id               char(36) PRIMARY KEY,
    name             varchar(50),
    status           varchar(100),
    date_due         timestamp,
    parent_type      varchar(255),
    parent_id        char(36),
    contact_id       char(36),
    assigned_user_id char(36),
    deleted          smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.notes (
    id            char(36) PRIMARY KEY,
    name          varchar(255),
    description   text,
    parent_type   varchar(255),
    parent_id     char(36),
    contact_id    char(36),
    date_entered  timestamp,
    deleted       smallint NOT NULL DEFAULT 0
);

CREATE TABLE suite.documents (
    id            char(36) PRIMARY KEY,
    document_name varchar(255),
    status_id     varchar(100),
    deleted       smallint NOT NULL DEFAULT 0
);

-- Many-to-many tables: their own id as SuiteCRM has it, and the pair as an alternate key
-- (UNIQUE, NOT NULL), which is the key walhook uses for them.
CREATE TABLE suite.accounts_contacts (
    id            char(36) PRIMARY KEY,
    contact_id    char(36) NOT NULL,
    account_id    char(36) NOT NULL,
    date_modified timestamp,
    primary_account smallint NOT NULL DEFAULT 0,
    deleted       smallint NOT NULL DEFAULT 0,
    UNIQUE (account_id, contact_id)
);

CREATE TABLE suite.documents_accounts (
    id            char(36) PRIMARY KEY,
    date_modified timestamp,
    deleted       smallint NOT NULL DEFAULT 0,
    document_id   char(36) NOT NULL,
    account_id    char(36) NOT NULL,
    UNIQUE (document_id, account_id)
);

INSERT INTO suite.users (id, user_name) VALUES
    ('1', 'admin'),
    ('seed_sally_id', 'sally'),
    ('seed_max_id', 'max');
INSERT INTO suite.documents (id, document_name, status_id) VALUES
    ('d0000000-0000-0000-0000-000000000001', 'Master services agreement.pdf', 'Active');
