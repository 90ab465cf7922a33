{% if cookiecutter.cloud == "aws" -%}
# The prediction store: a private, encrypted PostgreSQL. RDS generates the master
# password and keeps it in Secrets Manager (database_secret_arn); it never enters the
# Terraform state.
variable "database_name" {
  description = "Database of the prediction store (the last part of store.url in configs/<env>.yaml)."
  type        = string
}

variable "database_instance_class" {
  description = "RDS instance class of the prediction store."
  type        = string
  default     = "db.t4g.micro"
}

variable "database_storage_gb" {
  description = "Initial storage of the prediction store; it grows up to four times this."
  type        = number
  default     = 20
}

variable "database_multi_az" {
  description = "Keep a standby in a second availability zone (twice the cost; set for prod)."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC of subnet_ids; the database accepts connections from its address range only."
  type        = string
}

data "aws_vpc" "main" {
  id = var.vpc_id
}

resource "aws_db_subnet_group" "store" {
  name       = local.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "store" {
  name        = "${local.name}-store"
  description = "PostgreSQL of ${local.name}, reachable from inside the VPC only"
  vpc_id      = var.vpc_id

  ingress {
    description = "PostgreSQL from the VPC"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.main.cidr_block]
  }
}

resource "aws_db_parameter_group" "store" {
  name   = "${local.name}-store"
  family = "postgres17"

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_db_instance" "store" {
  #checkov:skip=CKV_AWS_157:Multi-AZ doubles the cost; database_multi_az turns it on (set it in prod's variable file).
  #checkov:skip=CKV_AWS_118:Enhanced monitoring costs extra; Performance Insights and the exported logs cover diagnosis.
  identifier     = local.name
  engine         = "postgres"
  engine_version = "17"
  instance_class = var.database_instance_class
  db_name        = var.database_name
  username       = "store"

  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.main.arn

  allocated_storage     = var.database_storage_gb
  max_allocated_storage = var.database_storage_gb * 4
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  db_subnet_group_name   = aws_db_subnet_group.store.name
  vpc_security_group_ids = [aws_security_group.store.id]
  parameter_group_name   = aws_db_parameter_group.store.name
  publicly_accessible    = false
  multi_az               = var.database_multi_az

  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  auto_minor_version_upgrade          = true
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.name}-final"
}

output "database_host" {
  description = "Private address of the prediction store (store.url in the environment's Secret)."
  value       = aws_db_instance.store.address
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the prediction store's user and password."
  value       = aws_db_instance.store.master_user_secret[0].secret_arn
}
{% elif cookiecutter.cloud == "gcp" -%}
# The prediction store: a private, encrypted Cloud SQL for PostgreSQL (private address
# only, TLS required). Its password is generated here and kept in Secret Manager.
variable "database_name" {
  description = "Database of the prediction store (the last part of store.url in configs/<env>.yaml)."
  type        = string
}

variable "database_tier" {
  description = "Machine type of the prediction store."
  type        = string
  default     = "db-custom-1-3840"
}

variable "database_high_availability" {
  description = "Keep a standby in a second zone (twice the cost; set for prod)."
  type        = bool
  default     = false
}

resource "google_sql_database_instance" "store" {
  #checkov:skip=CKV_GCP_6:TLS is required (ENCRYPTED_ONLY); client certificates would need the Cloud SQL Auth Proxy beside every pod.
  name                = local.name
  database_version    = "POSTGRES_18"
  region              = var.region
  deletion_protection = true

  settings {
    edition           = "ENTERPRISE"
    tier              = var.database_tier
    availability_type = var.database_high_availability ? "REGIONAL" : "ZONAL"
    disk_autoresize   = true

    ip_configuration {
      ipv4_enabled    = false
      private_network = "projects/${var.project_id}/global/networks/${var.network}"
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }
}

resource "google_sql_database" "store" {
  name     = var.database_name
  instance = google_sql_database_instance.store.name
}

resource "random_password" "store" {
  length  = 32
  special = false
}

resource "google_sql_user" "store" {
  name     = "store"
  instance = google_sql_database_instance.store.name
  password = random_password.store.result
}

resource "google_secret_manager_secret" "store" {
  secret_id = "${local.name}-store-password"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "store" {
  secret      = google_secret_manager_secret.store.id
  secret_data = random_password.store.result
}

output "database_host" {
  description = "Private address of the prediction store (store.url in the environment's Secret)."
  value       = google_sql_database_instance.store.private_ip_address
}

output "database_secret" {
  description = "Secret Manager secret holding the password of user store."
  value       = google_secret_manager_secret.store.id
}
{% elif cookiecutter.cloud == "azure" -%}
# The prediction store: a private Azure Database for PostgreSQL flexible server (VNet
# integration, no public access, TLS required, encrypted at rest). Its password is
# generated here and kept in Key Vault.
variable "database_name" {
  description = "Database of the prediction store (the last part of store.url in configs/<env>.yaml)."
  type        = string
}

variable "database_sku" {
  description = "Compute tier and size of the prediction store."
  type        = string
  default     = "B_Standard_B1ms"
}

variable "database_subnet_id" {
  description = "Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers, in the cluster's VNet."
  type        = string
}

variable "virtual_network_id" {
  description = "VNet of the cluster; the database's private DNS zone is linked to it."
  type        = string
}

resource "azurerm_private_dns_zone" "store" {
  name                = "${local.name}.private.postgres.database.azure.com"
  resource_group_name = var.resource_group_name

  depends_on = [azurerm_resource_group.main]
}

resource "azurerm_private_dns_zone_virtual_network_link" "store" {
  name                  = "${local.name}-store"
  resource_group_name   = var.resource_group_name
  private_dns_zone_name = azurerm_private_dns_zone.store.name
  virtual_network_id    = var.virtual_network_id
}

resource "random_password" "store" {
  length  = 32
  special = false
}

resource "azurerm_postgresql_flexible_server" "store" {
  #checkov:skip=CKV2_AZURE_57:Private through VNet integration (delegated subnet, public access off) rather than a private endpoint.
  #checkov:skip=CKV_AZURE_136:Geo-redundant backups double the backup cost; enable them for prod.
  name                          = "${local.name}-store"
  resource_group_name           = var.resource_group_name
  location                      = var.location
  version                       = "16"
  sku_name                      = var.database_sku
  storage_mb                    = 32768
  auto_grow_enabled             = true
  backup_retention_days         = 7
  delegated_subnet_id           = var.database_subnet_id
  private_dns_zone_id           = azurerm_private_dns_zone.store.id
  public_network_access_enabled = false
  administrator_login           = "store"
  administrator_password        = random_password.store.result

  lifecycle {
    ignore_changes = [zone]
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.store]
}

resource "azurerm_postgresql_flexible_server_database" "store" {
  name      = var.database_name
  server_id = azurerm_postgresql_flexible_server.store.id
}

resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV_AZURE_109:Terraform writes the secret from outside the VNet; reading needs Key Vault RBAC.
  #checkov:skip=CKV_AZURE_189:Terraform writes the secret from outside the VNet; reading needs Key Vault RBAC.
  #checkov:skip=CKV2_AZURE_32:A private endpoint needs a VNet per caller; see CKV_AZURE_109.
  name                       = substr(replace("${local.name}-kv", "/[^a-zA-Z0-9-]/", ""), 0, 24)
  resource_group_name        = var.resource_group_name
  location                   = var.location
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  enable_rbac_authorization  = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 7

  depends_on = [azurerm_resource_group.main]
}

resource "azurerm_role_assignment" "key_vault" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_key_vault_secret" "store" {
  #checkov:skip=CKV_AZURE_41:The database password does not expire by itself; rotate it with terraform apply -replace=random_password.store.
  name         = "store-password"
  value        = random_password.store.result
  key_vault_id = azurerm_key_vault.main.id
  content_type = "password of user store on ${azurerm_postgresql_flexible_server.store.fqdn}"

  depends_on = [azurerm_role_assignment.key_vault]
}

output "database_host" {
  description = "Private address of the prediction store (store.url in the environment's Secret)."
  value       = azurerm_postgresql_flexible_server.store.fqdn
}

output "database_secret" {
  description = "Key Vault secret holding the password of user store."
  value       = azurerm_key_vault_secret.store.versionless_id
}
{% endif -%}
