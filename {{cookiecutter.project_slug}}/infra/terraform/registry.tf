{% if cookiecutter.cloud == "aws" -%}
# One image repository for all environments: CD builds an image once and promotes it
# by tag (<image>:<commit sha>, then <image>:<env>).
resource "aws_ecr_repository" "image" {
  #checkov:skip=CKV_AWS_51:CD moves the <env> tag to the image it deploys; commit-sha tags are never rewritten.
  count = local.create_shared ? 1 : 0

  name                 = var.project
  image_tag_mutability = "MUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "image" {
  count = local.create_shared ? 1 : 0

  repository = aws_ecr_repository.image[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 200 most recent images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 200
      }
      action = { type = "expire" }
    }]
  })
}

locals {
  registry       = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
  repository_arn = "arn:aws:ecr:${var.region}:${local.account_id}:repository/${var.project}"
}
{% elif cookiecutter.cloud == "gcp" -%}
# One image repository for all environments: CD builds an image once and promotes it
# by tag (<image>:<commit sha>, then <image>:<env>).
resource "google_artifact_registry_repository" "image" {
  #checkov:skip=CKV_GCP_84:Encrypted with Google-managed keys; customer-managed keys need a Cloud KMS key ring and cost per key.
  count = local.create_shared ? 1 : 0

  repository_id = var.project
  location      = var.region
  format        = "DOCKER"
  description   = "Images of ${var.project}"

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"

    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"

    most_recent_versions {
      keep_count = 200
    }
  }
}

locals {
  registry = "${var.region}-docker.pkg.dev/${var.project_id}/${var.project}"
}
{% elif cookiecutter.cloud == "azure" -%}
# One registry for all environments: CD builds an image once and promotes it by tag
# (<image>:<commit sha>, then <image>:<env>).
resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_139:GitHub-hosted runners push over the public endpoint; access needs Entra ID.
  #checkov:skip=CKV_AZURE_163:Image scanning comes with Microsoft Defender for Containers, enabled per subscription.
  #checkov:skip=CKV_AZURE_164:Content trust is a Premium feature; CD deploys images by commit digest from this registry only.
  #checkov:skip=CKV_AZURE_165:Geo-replication is a Premium feature (registry_sku).
  #checkov:skip=CKV_AZURE_166:Quarantine is a Premium feature (registry_sku).
  #checkov:skip=CKV_AZURE_167:Retention of untagged manifests is a Premium feature (registry_sku).
  #checkov:skip=CKV_AZURE_233:Zone redundancy is a Premium feature (registry_sku).
  #checkov:skip=CKV_AZURE_237:Dedicated data endpoints are a Premium feature (registry_sku).
  count = local.create_shared ? 1 : 0

  name                = var.registry_name
  resource_group_name = azurerm_resource_group.main[0].name
  location            = var.location
  sku                 = var.registry_sku
  admin_enabled       = false
  tags                = { project = var.project, managed-by = "terraform" }
}

locals {
  registry_id = "${local.resource_group_id}/providers/Microsoft.ContainerRegistry/registries/${var.registry_name}"
}
{% endif -%}
