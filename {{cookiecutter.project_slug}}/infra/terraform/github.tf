{% if cookiecutter.cloud == "aws" -%}
# GitHub Actions log in with short-lived OIDC tokens: this environment's jobs assume
# this environment's role, which may push images, use this environment's bucket and
# deploy to this environment's namespace, nothing else.
locals {
  github_oidc_arn = "arn:aws:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com"
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_shared ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "github_trust" {
  # Jobs that run in this environment (deploys, batch jobs) ...
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }

  # ... and, in the first environment, the image build on pushes to main (cd.yml).
  # A statement of its own, not a second value computed into the one above: checkov
  # checks the subject claim (CKV_AWS_358) only when it is a literal list.
  dynamic "statement" {
    for_each = local.create_shared ? ["refs/heads/main"] : []

    content {
      actions = ["sts:AssumeRoleWithWebIdentity"]

      principals {
        type        = "Federated"
        identifiers = [local.github_oidc_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "token.actions.githubusercontent.com:aud"
        values   = ["sts.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "token.actions.githubusercontent.com:sub"
        values   = ["repo:${var.github_repository}:ref:${statement.value}"]
      }
    }
  }
}

resource "aws_iam_role" "github" {
  name                 = "${local.name}-github"
  description          = "GitHub Actions of ${var.github_repository} in ${var.environment}"
  assume_role_policy   = data.aws_iam_policy_document.github_trust.json
  max_session_duration = 3600

  depends_on = [aws_iam_openid_connect_provider.github]
}

data "aws_iam_policy_document" "github" {
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushAndTagImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [local.repository_arn]
  }

  statement {
    sid       = "FindTheCluster"
    actions   = ["eks:DescribeCluster"]
    resources = [local.cluster_arn]
  }

  dynamic "statement" {
    for_each = data.aws_iam_policy_document.storage.statement
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

# Read and write this environment's bucket (the batch jobs train and score from CI).
data "aws_iam_policy_document" "storage" {
  statement {
    sid       = "ListTheBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.main["data"].arn]
  }

  statement {
    sid       = "ReadWriteObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.main["data"].arn}/*"]
  }

  statement {
    sid       = "UseTheBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "github" {
  name   = "deploy"
  role   = aws_iam_role.github.id
  policy = data.aws_iam_policy_document.github.json
}

# Kubernetes rights: edit in this environment's namespace only (EKS access entries).
resource "aws_eks_access_entry" "github" {
  cluster_name  = local.cluster_name
  principal_arn = aws_iam_role.github.arn
}

resource "aws_eks_access_policy_association" "github" {
  cluster_name  = local.cluster_name
  principal_arn = aws_eks_access_entry.github.principal_arn
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"

  access_scope {
    type       = "namespace"
    namespaces = [local.namespace]
  }
}

# The pods (service account <project> in the namespace) reach the bucket through EKS
# Pod Identity: no keys in the cluster.
data "aws_iam_policy_document" "pods_trust" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "pods" {
  name               = "${local.name}-pods"
  description        = "Pods of ${local.namespace}"
  assume_role_policy = data.aws_iam_policy_document.pods_trust.json
}

resource "aws_iam_role_policy" "pods" {
  name   = "storage"
  role   = aws_iam_role.pods.id
  policy = data.aws_iam_policy_document.storage.json
}

resource "aws_eks_pod_identity_association" "pods" {
  cluster_name    = local.cluster_name
  namespace       = local.namespace
  service_account = var.project
  role_arn        = aws_iam_role.pods.arn
}
{% elif cookiecutter.cloud == "gcp" -%}
# GitHub Actions log in with short-lived OIDC tokens: this environment's jobs act as
# this environment's service account, which may push images, use this environment's
# bucket and deploy to this environment's namespace, nothing else.
locals {
  environment_subject = "repo:${var.github_repository}:environment:${var.environment}"
  # The first environment also builds the image on pushes to main (cd.yml, job image).
  main_subject  = "repo:${var.github_repository}:ref:refs/heads/main"
  subjects      = local.create_shared ? [local.environment_subject, local.main_subject] : [local.environment_subject]
  pool_name     = "projects/${data.google_project.current.number}/locations/global/workloadIdentityPools/${var.github_pool_id}"
  provider_id   = trimsuffix(substr("${var.environment}-${var.project}", 0, 32), "-")
  account_id    = trimsuffix(substr("${local.name}-gh", 0, 30), "-")
  pod_principal = "principal://iam.googleapis.com/projects/${data.google_project.current.number}/locations/global/workloadIdentityPools/${var.project_id}.svc.id.goog/subject/ns/${local.namespace}/sa/${var.project}"
}

variable "github_pool_id" {
  description = "Workload identity pool for GitHub Actions (one per Google Cloud project)."
  type        = string
  default     = "github-actions"
}

resource "google_iam_workload_identity_pool" "github" {
  count = local.create_shared ? 1 : 0

  workload_identity_pool_id = var.github_pool_id
  display_name              = "GitHub Actions"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:checkov cannot evaluate a condition built from variables; it pins assertion.sub to this repository's environment (and main in the first).
  workload_identity_pool_id          = var.github_pool_id
  workload_identity_pool_provider_id = local.provider_id
  display_name                       = "GitHub ${var.environment}"
  attribute_condition                = join(" || ", [for subject in local.subjects : "assertion.sub == '${subject}'"])
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
  }

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }

  depends_on = [google_iam_workload_identity_pool.github]
}

resource "google_service_account" "github" {
  account_id   = local.account_id
  display_name = "GitHub Actions of ${var.github_repository} in ${var.environment}"
}

resource "google_service_account_iam_member" "github" {
  for_each = toset(local.subjects)

  service_account_id = google_service_account.github.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${local.pool_name}/subject/${each.value}"

  depends_on = [google_iam_workload_identity_pool_provider.github]
}

resource "google_artifact_registry_repository_iam_member" "github" {
  repository = var.project
  location   = var.region
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.github.member

  depends_on = [google_artifact_registry_repository.image]
}

# Read and write this environment's bucket (the batch jobs train and score from CI),
# and the same for the pods (Kubernetes service account <project>, GKE workload identity).
resource "google_storage_bucket_iam_member" "data" {
  for_each = {
    github = google_service_account.github.member
    pods   = local.pod_principal
  }

  bucket = google_storage_bucket.main["data"].name
  role   = "roles/storage.objectAdmin"
  member = each.value
}

# gcloud container clusters get-credentials; what it may do inside the cluster comes
# from the RoleBinding in cluster.tf.
resource "google_project_iam_member" "github_cluster" {
  project = var.project_id
  role    = "roles/container.clusterViewer"
  member  = google_service_account.github.member
}
{% elif cookiecutter.cloud == "azure" -%}
# GitHub Actions log in with short-lived OIDC tokens (federated credentials): this
# environment's jobs log in as this environment's identity, which may push images,
# use this environment's container and deploy to this environment's namespace.
locals {
  github_subjects = merge(
    { environment = "repo:${var.github_repository}:environment:${var.environment}" },
    # The first environment also builds the image on pushes to main (cd.yml, job image).
    local.create_shared ? { main = "repo:${var.github_repository}:ref:refs/heads/main" } : {},
  )
}

resource "azurerm_user_assigned_identity" "github" {
  name                = "${local.name}-github"
  resource_group_name = var.resource_group_name
  location            = var.location

  depends_on = [azurerm_resource_group.main]
}

resource "azurerm_federated_identity_credential" "github" {
  for_each = local.github_subjects

  name                = each.key
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.github.id
  issuer              = "https://token.actions.githubusercontent.com"
  audience            = ["api://AzureADTokenExchange"]
  subject             = each.value
}

resource "azurerm_role_assignment" "github" {
  for_each = {
    push-images      = { scope = local.registry_id, role = "AcrPush" }
    use-container    = { scope = "${local.storage_account_id}/blobServices/default/containers/${local.name}", role = "Storage Blob Data Contributor" }
    cluster-login    = { scope = local.cluster_id, role = "Azure Kubernetes Service Cluster User Role" }
    deploy-namespace = { scope = "${local.cluster_id}/namespaces/${local.namespace}", role = "Azure Kubernetes Service RBAC Writer" }
  }

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.github.principal_id
  principal_type       = "ServicePrincipal"

  depends_on = [azurerm_container_registry.main, azurerm_storage_container.data]
}
{% endif -%}
