{% if cookiecutter.cloud == "aws" -%}
locals {
  # The first environment also creates what all environments share, the Terraform
  # state's storage among it.
  create_shared = var.environment == var.environments[0]
  # Bucket, namespace and database are named <project>-<environment>, as in
  # configs/<env>.yaml and deploy/k8s/overlays/<env>.
  name       = "${var.project}-${var.environment}"
  namespace  = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  buckets = merge(
    { data = local.name },
    local.create_shared ? { state = "${var.project}-tfstate" } : {},
  )
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; this is the AWS default key policy.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself; this is the AWS default key policy.
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; this is the AWS default key policy.
  # The account administers the key (the AWS default key policy); services and roles
  # get their use through IAM policies and grants.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.name}: buckets, images, database and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

resource "aws_s3_bucket" "main" {
  #checkov:skip=CKV_AWS_18:Access logs need a second bucket per bucket; CloudTrail data events cover audits when required.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; versioning covers mistakes, enable replication for disaster recovery.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; the batch jobs run on a schedule.
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Select the environment's workspace first: terraform workspace select ${var.environment}"
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "main" {
  for_each = aws_s3_bucket.main

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "main" {
  for_each = aws_s3_bucket.main

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "main" {
  for_each = aws_s3_bucket.main

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "main" {
  for_each = aws_s3_bucket.main

  bucket = each.value.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "main" {
  for_each = aws_s3_bucket.main

  bucket = each.value.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.main

  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "main" {
  for_each = aws_s3_bucket.main

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.main]
}
{% elif cookiecutter.cloud == "gcp" -%}
locals {
  # The first environment also creates what all environments share, the Terraform
  # state's storage among it.
  create_shared = var.environment == var.environments[0]
  # Bucket, namespace and database are named <project>-<environment>, as in
  # configs/<env>.yaml and deploy/k8s/overlays/<env>.
  name      = "${var.project}-${var.environment}"
  namespace = "${var.project}-${var.environment}"
  buckets = merge(
    { data = local.name },
    local.create_shared ? { state = "${var.project}-tfstate" } : {},
  )
}

data "google_project" "current" {}

resource "google_storage_bucket" "main" {
  #checkov:skip=CKV_GCP_62:Access logs need a second bucket; Cloud Audit Logs (data access) cover audits when required.
  for_each = local.buckets

  name                        = each.value
  location                    = var.region
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Select the environment's workspace first: terraform workspace select ${var.environment}"
    }
  }

  # Encrypted at rest with Google-managed keys (always on).
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}
{% elif cookiecutter.cloud == "azure" -%}
locals {
  # The first environment also creates what all environments share, the Terraform
  # state's storage among it.
  create_shared = var.environment == var.environments[0]
  # Container, namespace and database are named <project>-<environment>, as in
  # configs/<env>.yaml and deploy/k8s/overlays/<env>.
  name               = "${var.project}-${var.environment}"
  namespace          = "${var.project}-${var.environment}"
  resource_group_id  = "/subscriptions/${var.subscription_id}/resourceGroups/${var.resource_group_name}"
  storage_account_id = "${local.resource_group_id}/providers/Microsoft.Storage/storageAccounts/${var.storage_account_name}"
}

resource "azurerm_resource_group" "main" {
  count = local.create_shared ? 1 : 0

  name     = var.resource_group_name
  location = var.location
  tags     = { project = var.project, managed-by = "terraform" }
}

# One account for all environments: a private container per environment, and the
# Terraform state. Encrypted at rest (Microsoft-managed keys, plus infrastructure
# encryption); Entra ID only, no account keys or anonymous access.
resource "azurerm_storage_account" "main" {
  #checkov:skip=CKV_AZURE_59:GitHub-hosted runners (batch jobs) reach the account over its public endpoint; access needs Entra ID.
  #checkov:skip=CKV_AZURE_35:GitHub-hosted runners have no fixed addresses; add network rules for your own runners.
  #checkov:skip=CKV2_AZURE_33:A private endpoint needs a VNet per caller; see CKV_AZURE_59.
  #checkov:skip=CKV_AZURE_206:Geo-redundant replication doubles the cost; versioning and soft delete cover mistakes.
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys; customer-managed keys need a Key Vault key per account.
  #checkov:skip=CKV_AZURE_33:Queues are not used by this project, so there is no queue traffic to log.
  count = local.create_shared ? 1 : 0

  name                              = var.storage_account_name
  resource_group_name               = azurerm_resource_group.main[0].name
  location                          = var.location
  account_tier                      = "Standard"
  account_replication_type          = "LRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false
  local_user_enabled                = false
  infrastructure_encryption_enabled = true
  default_to_oauth_authentication   = true
  tags                              = { project = var.project, managed-by = "terraform" }

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }
}

resource "azurerm_storage_management_policy" "main" {
  count = local.create_shared ? 1 : 0

  storage_account_id = azurerm_storage_account.main[0].id

  rule {
    name    = "expire-old-versions"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.noncurrent_version_days
      }
    }
  }
}

resource "azurerm_storage_container" "state" {
  #checkov:skip=CKV2_AZURE_21:Blob reads are logged with the account's diagnostic settings, not per container.
  count = local.create_shared ? 1 : 0

  name                  = "tfstate"
  storage_account_id    = azurerm_storage_account.main[0].id
  container_access_type = "private"
}

resource "azurerm_storage_container" "data" {
  #checkov:skip=CKV2_AZURE_21:Blob reads are logged with the account's diagnostic settings, not per container.
  name                  = local.name
  storage_account_id    = local.storage_account_id
  container_access_type = "private"

  depends_on = [azurerm_storage_account.main]

  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Select the environment's workspace first: terraform workspace select ${var.environment}"
    }
  }
}
{% endif -%}
