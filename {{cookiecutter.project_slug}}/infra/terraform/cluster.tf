{% if cookiecutter.cloud == "aws" -%}
# By default the environment deploys to an existing cluster (cluster_name); with
# create_cluster = true this creates an EKS cluster with one managed node group.
locals {
  cluster_name = var.create_cluster ? aws_eks_cluster.main[0].name : var.cluster_name
  cluster_arn  = "arn:aws:eks:${var.region}:${local.account_id}:cluster/${var.cluster_name}"
}

data "aws_iam_policy_document" "cluster_trust" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  count = var.create_cluster ? 1 : 0

  name               = "${var.cluster_name}-cluster"
  assume_role_policy = data.aws_iam_policy_document.cluster_trust.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  count = var.create_cluster ? 1 : 0

  role       = aws_iam_role.cluster[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "main" {
  #checkov:skip=CKV_AWS_39:GitHub-hosted runners deploy through the public endpoint; requests are authenticated by IAM.
  #checkov:skip=CKV_AWS_38:GitHub-hosted runners have no fixed addresses; narrow cluster_public_access_cidrs for your own runners.
  count = var.create_cluster ? 1 : 0

  name                      = var.cluster_name
  role_arn                  = aws_iam_role.cluster[0].arn
  version                   = var.kubernetes_version
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = true
    public_access_cidrs     = var.cluster_public_access_cidrs
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  encryption_config {
    resources = ["secrets"]

    provider {
      key_arn = aws_kms_key.main.arn
    }
  }

  depends_on = [aws_iam_role_policy_attachment.cluster]
}

data "aws_iam_policy_document" "nodes_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "nodes" {
  count = var.create_cluster ? 1 : 0

  name               = "${var.cluster_name}-nodes"
  assume_role_policy = data.aws_iam_policy_document.nodes_trust.json
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = var.create_cluster ? toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ]) : toset([])

  role       = aws_iam_role.nodes[0].name
  policy_arn = "arn:aws:iam::aws:policy/${each.value}"
}

resource "aws_eks_node_group" "main" {
  count = var.create_cluster ? 1 : 0

  cluster_name    = aws_eks_cluster.main[0].name
  node_group_name = "default"
  node_role_arn   = aws_iam_role.nodes[0].arn
  subnet_ids      = var.subnet_ids
  instance_types  = var.node_instance_types

  scaling_config {
    min_size     = var.node_count.min
    desired_size = var.node_count.desired
    max_size     = var.node_count.max
  }

  depends_on = [aws_iam_role_policy_attachment.nodes]
}

resource "aws_eks_addon" "pod_identity" {
  count = var.create_cluster ? 1 : 0

  cluster_name = aws_eks_cluster.main[0].name
  addon_name   = "eks-pod-identity-agent"
}
{% elif cookiecutter.cloud == "gcp" -%}
# By default the environment deploys to an existing cluster (cluster_name); with
# create_cluster = true this creates a GKE Autopilot cluster.
data "google_container_cluster" "existing" {
  count = var.create_cluster ? 0 : 1

  name     = var.cluster_name
  location = var.region
}

locals {
  cluster_name           = var.create_cluster ? google_container_cluster.main[0].name : var.cluster_name
  cluster_endpoint       = var.create_cluster ? google_container_cluster.main[0].endpoint : data.google_container_cluster.existing[0].endpoint
  cluster_ca_certificate = var.create_cluster ? google_container_cluster.main[0].master_auth[0].cluster_ca_certificate : data.google_container_cluster.existing[0].master_auth[0].cluster_ca_certificate
}

resource "google_container_cluster" "main" {
  count = var.create_cluster ? 1 : 0

  name                = var.cluster_name
  location            = var.region
  network             = var.network
  enable_autopilot    = true
  deletion_protection = true

  release_channel {
    channel = "REGULAR"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_cidrs
      content {
        cidr_block = cidr_blocks.value
      }
    }
  }
}

# The namespace, and edit rights in it for this environment's GitHub service account.
resource "kubernetes_namespace_v1" "main" {
  metadata {
    name = local.namespace
    labels = {
      "pod-security.kubernetes.io/enforce" = "restricted"
      "app.kubernetes.io/instance"         = local.namespace
    }
  }
}

resource "kubernetes_role_binding_v1" "github" {
  metadata {
    name      = "github-deploy"
    namespace = kubernetes_namespace_v1.main.metadata[0].name
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = "edit"
  }

  subject {
    api_group = "rbac.authorization.k8s.io"
    kind      = "User"
    name      = google_service_account.github.email
  }
}

# `kubectl apply -k` also applies the Namespace object of the overlay.
resource "kubernetes_cluster_role_v1" "namespace" {
  metadata {
    name = "${local.namespace}-namespace"
  }

  rule {
    api_groups     = [""]
    resources      = ["namespaces"]
    resource_names = [local.namespace]
    verbs          = ["get", "patch"]
  }
}

resource "kubernetes_cluster_role_binding_v1" "namespace" {
  metadata {
    name = "${local.namespace}-namespace"
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = kubernetes_cluster_role_v1.namespace.metadata[0].name
  }

  subject {
    api_group = "rbac.authorization.k8s.io"
    kind      = "User"
    name      = google_service_account.github.email
  }
}
{% elif cookiecutter.cloud == "azure" -%}
# By default the environment deploys to an existing cluster (cluster_name, with Entra
# ID and Azure RBAC for Kubernetes); with create_cluster = true this creates one.
data "azurerm_kubernetes_cluster" "existing" {
  count = var.create_cluster ? 0 : 1

  name                = var.cluster_name
  resource_group_name = var.cluster_resource_group_name
}

locals {
  cluster_id = var.create_cluster ? azurerm_kubernetes_cluster.main[0].id : data.azurerm_kubernetes_cluster.existing[0].id
  cluster_rg = var.create_cluster ? var.resource_group_name : var.cluster_resource_group_name
}

resource "azurerm_kubernetes_cluster" "main" {
  count = var.create_cluster ? 1 : 0

  name                      = var.cluster_name
  resource_group_name       = var.resource_group_name
  location                  = var.location
  dns_prefix                = var.cluster_name
  local_account_disabled    = true
  oidc_issuer_enabled       = true
  workload_identity_enabled = true
  automatic_upgrade_channel = "patch"
  azure_policy_enabled      = true

  default_node_pool {
    name                 = "system"
    vm_size              = var.node_vm_size
    auto_scaling_enabled = true
    min_count            = var.node_count.min
    max_count            = var.node_count.max
    max_pods             = 50
  }

  identity {
    type = "SystemAssigned"
  }

  azure_active_directory_role_based_access_control {
    azure_rbac_enabled = true
    tenant_id          = data.azurerm_client_config.current.tenant_id
  }

  network_profile {
    network_plugin = "azure"
    network_policy = "azure"
  }

  api_server_access_profile {
    authorized_ip_ranges = var.api_server_authorized_cidrs
  }

  depends_on = [azurerm_resource_group.main]
}
{% endif -%}
