CREATE TABLE "sign_in_throttle" (
	"key_hash" text PRIMARY KEY NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"locked_until" timestamp with time zone,
	"last_failure_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "users_email";--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "sso_issuer" text;--> statement-breakpoint
CREATE UNIQUE INDEX "users_tenant_email" ON "users" USING btree (coalesce("tenant_id", ''),lower("email"));--> statement-breakpoint
CREATE INDEX "users_email" ON "users" USING btree (lower("email"));--> statement-breakpoint
-- Data, added to the generated DDL: accounts linked before the issuer was kept belong to the issuer their tenant has configured now. SAML accounts of a tenant that pins no IdP entity ID stay NULL and are linked to the issuer of their next signed sign-in.
UPDATE "users" SET "sso_issuer" = "tenants"."oidc"->>'issuer' FROM "tenants" WHERE "users"."tenant_id" = "tenants"."id" AND "users"."sso_subject" LIKE 'oidc:%';--> statement-breakpoint
UPDATE "users" SET "sso_issuer" = "tenants"."saml"->>'idpIssuer' FROM "tenants" WHERE "users"."tenant_id" = "tenants"."id" AND "users"."sso_subject" LIKE 'saml:%';
