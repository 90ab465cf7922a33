{% if cookiecutter.cloud == "aws" -%}
output "github_variables" {
  description = "GitHub Actions variables of this environment (Settings → Environments → <env>)."
  value = {
    AWS_ACCOUNT_ID = local.account_id
    AWS_REGION     = var.region
    AWS_ROLE_ARN   = aws_iam_role.github.arn
    EKS_CLUSTER    = local.cluster_name
  }
}

output "bucket" {
  description = "This environment's bucket: data, models (registry) and reports, as in configs/<env>.yaml."
  value       = "s3://${aws_s3_bucket.main["data"].bucket}"
}

output "image" {
  description = "Image repository: CD pushes <image>:<commit sha>, the overlays run <image>:<env>."
  value       = "${local.registry}/${var.project}"
}

output "namespace" {
  description = "Kubernetes namespace of this environment (deploy/k8s/overlays/<env>)."
  value       = local.namespace
}

output "service_account" {
  description = "Kubernetes service account whose pods reach the bucket (EKS Pod Identity)."
  value       = var.project
}

output "pod_role_arn" {
  description = "IAM role the pods assume."
  value       = aws_iam_role.pods.arn
}
{% elif cookiecutter.cloud == "gcp" -%}
output "github_variables" {
  description = "GitHub Actions variables of this environment (Settings → Environments → <env>)."
  value = {
    GCP_PROJECT_ID                 = var.project_id
    GCP_REGION                     = var.region
    GCP_SERVICE_ACCOUNT            = google_service_account.github.email
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.github.name
    GKE_CLUSTER                    = local.cluster_name
  }
}

output "bucket" {
  description = "This environment's bucket: data, models (registry) and reports, as in configs/<env>.yaml."
  value       = "gs://${google_storage_bucket.main["data"].name}"
}

output "image" {
  description = "Image repository: CD pushes <image>:<commit sha>, the overlays run <image>:<env>."
  value       = "${local.registry}/${var.project}"
}

output "namespace" {
  description = "Kubernetes namespace of this environment (deploy/k8s/overlays/<env>)."
  value       = local.namespace
}

output "service_account" {
  description = "Kubernetes service account whose pods reach the bucket (GKE workload identity)."
  value       = var.project
}
{% elif cookiecutter.cloud == "azure" -%}
output "github_variables" {
  description = "GitHub Actions variables of this environment (Settings → Environments → <env>)."
  value = {
    AZURE_CLIENT_ID       = azurerm_user_assigned_identity.github.client_id
    AZURE_TENANT_ID       = azurerm_user_assigned_identity.github.tenant_id
    AZURE_SUBSCRIPTION_ID = var.subscription_id
    AZURE_ACR_NAME        = var.registry_name
    AZURE_STORAGE_ACCOUNT = var.storage_account_name
    AKS_RESOURCE_GROUP    = local.cluster_rg
    AKS_CLUSTER           = var.cluster_name
  }
}

output "bucket" {
  description = "This environment's container: data, models (registry) and reports, as in configs/<env>.yaml."
  value       = "az://${azurerm_storage_container.data.name}"
}

output "image" {
  description = "Image repository: CD pushes <image>:<commit sha>, the overlays run <image>:<env>."
  value       = "${var.registry_name}.azurecr.io/${var.project}"
}

output "namespace" {
  description = "Kubernetes namespace of this environment (deploy/k8s/overlays/<env>)."
  value       = local.namespace
}
{% endif -%}
