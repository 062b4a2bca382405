-- Roles and database of PRISM Agent, run once by the postgres image as the
-- superuser when it creates its data folder (docker-entrypoint-initdb.d).
--
-- prism_owner owns the database and so the tables the agent's migrations
-- create (DATABASE_MIGRATION_URL). prism_agent, which the agent runs as
-- (DATABASE_URL), owns nothing and is neither superuser nor BYPASSRLS, so
-- that row-level security binds it; the agent refuses to start otherwise.
-- The migrations grant it the privileges it uses.
--
-- The passwords come from the container's environment (psql \getenv); an
-- unset variable stops the script.
\set ON_ERROR_STOP on
\getenv owner_password PRISM_DB_OWNER_PASSWORD
\getenv agent_password PRISM_DB_AGENT_PASSWORD

CREATE ROLE prism_owner LOGIN PASSWORD :'owner_password'
  NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE ROLE prism_agent LOGIN PASSWORD :'agent_password'
  NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE prism OWNER prism_owner;

-- Only the two roles may connect to it.
REVOKE ALL ON DATABASE prism FROM PUBLIC;
GRANT CONNECT ON DATABASE prism TO prism_owner, prism_agent;
