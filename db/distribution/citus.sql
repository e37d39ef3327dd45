-- Distributing tokenbill's schema over Citus, by organisation (issue 17; docs/distributed-schema.md).
--
-- Migration-independent: run it once on the coordinator of a Citus cluster whose database
-- `tokenbill migrate` has brought to head (empty or holding data: Citus copies existing rows
-- into the shards), after `CREATE EXTENSION citus;` and after adding the worker nodes.
-- Migrations after it run on the coordinator as usual: Citus propagates DDL on distributed
-- tables to their shards.
--
-- Every organisation table is distributed on organization_id and colocated with the wallets, so
-- a wallet's transactions, entries, lots, history, purchases, invoices, events and audit rows sit
-- on the wallet's shard and every movement of a wallet runs on one node. The platform's small
-- tables are reference tables (a copy on every node, joined locally); the platform's own
-- bookkeeping stays on the coordinator. tests/db/test_distribution_script.py checks this file
-- against the migrated schema: every table is named once, parents before children, and every
-- function signature exists.

-- The ledger's triggers (append-only history, the balance check) run on each shard and read
-- only their own shard's rows.
SET citus.enable_unsafe_triggers TO on;

-- Reference tables: replicated to every node.
SELECT create_reference_table('organizations');
SELECT create_reference_table('token_packages');
SELECT create_reference_table('ledger_accounts');
SELECT create_reference_table('users');
SELECT create_reference_table('api_keys');

-- Coordinator tables: the platform's bookkeeping, and the invoice numbering service (one gapless
-- series per year, taken in the invoice's transaction on the coordinator).
SELECT citus_add_local_table_to_metadata('alembic_version');
SELECT citus_add_local_table_to_metadata('invoice_number_sequences');
SELECT citus_add_local_table_to_metadata('idempotency_records');
SELECT citus_add_local_table_to_metadata('console_sessions');
SELECT citus_add_local_table_to_metadata('sign_in_attempts');
SELECT citus_add_local_table_to_metadata('rate_limit_counters');
SELECT citus_add_local_table_to_metadata('job_runs');
SELECT citus_add_local_table_to_metadata('reconciliation_runs');
SELECT citus_add_local_table_to_metadata('reconciliation_mismatches');
SELECT citus_add_local_table_to_metadata('monthly_reports');
SELECT citus_add_local_table_to_metadata('monthly_report_organizations');
SELECT citus_add_local_table_to_metadata('payment_gateway_operations');
-- The Stripe webhook inbox: an event is claimed by its Stripe id before its organisation is known.
SELECT citus_add_local_table_to_metadata('stripe_events');

-- Organisation tables: the wallet first, then each table after the tables it points at.
SELECT create_distributed_table('organization_token_wallets', 'organization_id');
SELECT create_distributed_table('ledger_transactions', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('ledger_entries', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_lots', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_balance_history', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_subscriptions', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('invoices', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('invoice_lines', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_purchases', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('notification_events', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('low_balance_notifications', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('webhook_endpoints', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('webhook_deliveries', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('webhook_delivery_attempts', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_usage_forecasts', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('auto_topup_policies', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('auto_topups', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_audit_logs', 'organization_id', colocate_with => 'organization_token_wallets');

-- The spend runs where its wallet lives: the call is delegated to the node holding the shard of
-- p_organization_id, and every statement in it stays on that shard.
SELECT create_distributed_function('ledger_spend(text,integer,numeric,text,text,numeric,numeric,boolean,text,text,text,text)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_spend_refusal(integer,numeric,numeric)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_spend_book(bigint,text,integer,integer,integer,numeric,numeric,numeric,text,text,numeric,numeric,numeric,text,text,text,text)', 'p_organization_id', colocate_with := 'organization_token_wallets');
-- Credits and debits named by their organisation, and the spend's helpers keyed by it.
SELECT create_distributed_function('ledger_post(integer,text,text,integer,numeric,text,text,text,timestamp with time zone)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_spend_replay(integer,text,numeric,text,text)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_expired_remainder(integer,integer)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_draw_lots(integer,integer,numeric)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_topup_threshold(integer,integer,boolean)', 'p_organization_id', colocate_with := 'organization_token_wallets');

-- Tables of later changes, organisation tables by the same rule (their keys carry organization_id
-- since they were made): Stripe customers, payment actions and saved cards, disputes (after the
-- purchases they dispute), holds (after the transactions they point at) and spend limits.
SELECT create_distributed_table('stripe_customers', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('stripe_payment_actions', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('stripe_payment_methods', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_disputes', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('token_holds', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('spend_limits', 'organization_id', colocate_with => 'organization_token_wallets');
SELECT create_distributed_table('spend_limit_usage', 'organization_id', colocate_with => 'organization_token_wallets');

-- Holds and spend limits: every function that acts for one organisation runs on its node.
-- (ledger_held_account writes the organisation's `held:org-<id>` row of ledger_accounts, a
-- reference table, the first time the organisation holds tokens: one replicated write per
-- organisation, as its wallet's own account.)
SELECT create_distributed_function('ledger_spend_limited(text,integer,numeric,text,text,numeric,numeric,boolean,text,text,text,text,integer,timestamp with time zone)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('spend_limit_check(integer,integer,numeric,timestamp with time zone)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('spend_limit_count(integer,integer,numeric,timestamp with time zone)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('spend_limit_notify(integer,integer,integer,timestamp with time zone)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('spend_limit_take(integer,integer,numeric,timestamp with time zone,boolean)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_hold(text,integer,numeric,timestamp with time zone,text,text,text,text,text,text,text,integer,numeric,numeric,boolean)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_hold_settle(integer,bigint,text,numeric,text,text,text,text)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_hold_ops_run(integer,text[],text[],numeric[],timestamp with time zone[],text[],text[],text[],integer[],bigint[],text[],text[],text[],text[],numeric,numeric,boolean)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_hold_answer(text,integer,bigint)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_held_account(integer)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_draw_held_lots(integer,integer,numeric)', 'p_organization_id', colocate_with := 'organization_token_wallets');
-- A hold's balance alerts and a reversal's release of held tokens (0024).
SELECT create_distributed_function('ledger_balance_alerts(integer,integer,bigint,numeric,numeric,numeric,numeric,numeric)', 'p_organization_id', colocate_with := 'organization_token_wallets');
SELECT create_distributed_function('ledger_release_holds_for_reversal(integer,integer,numeric,text)', 'p_organization_id', colocate_with := 'organization_token_wallets');
