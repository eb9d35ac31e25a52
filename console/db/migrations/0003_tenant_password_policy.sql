ALTER TABLE "tenants" ADD COLUMN "password_policy" jsonb;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "password_unmet_policy" boolean DEFAULT false NOT NULL;