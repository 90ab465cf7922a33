variable "project" {
  description = "Project name: prefix of every resource name, the image repository and the namespaces."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", var.project))
    error_message = "project must be 1-40 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "environment" {
  description = "Deployment environment; equal to the Terraform workspace (one state per environment)."
  type        = string

  validation {
    condition     = contains(var.environments, var.environment)
    error_message = "environment must be one of var.environments."
  }
}

variable "environments" {
  description = "Every environment, in promotion order; the first one also creates what all share."
  type        = list(string)
}

{% if cookiecutter.cloud == "aws" -%}
variable "region" {
  description = "AWS region of every resource."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose Actions may assume this environment's role."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster this environment deploys to (created when create_cluster is true)."
  type        = string
}

variable "create_cluster" {
  description = "Create the EKS cluster and a managed node group; false uses an existing cluster."
  type        = bool
  default     = false
}

variable "subnet_ids" {
  description = "Private subnets for the cluster and the database (at least two availability zones)."
  type        = list(string)
  default     = []
}

variable "kubernetes_version" {
  description = "Kubernetes version of a created cluster."
  type        = string
  default     = "1.34"
}

variable "cluster_public_access_cidrs" {
  description = "Addresses that may reach a created cluster's API (GitHub-hosted runners have no fixed range)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "node_instance_types" {
  description = "Instance types of a created cluster's node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_count" {
  description = "Minimum, desired and maximum nodes of a created cluster's node group."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 1, desired = 2, max = 4 }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept before it expires."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let terraform destroy delete buckets and the image repository that still hold data."
  type        = bool
  default     = false
}
{% elif cookiecutter.cloud == "gcp" -%}
variable "project_id" {
  description = "Google Cloud project that holds every resource."
  type        = string
}

variable "region" {
  description = "Region of the buckets, the image repository, the cluster and the database."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose Actions may act as this environment's service account."
  type        = string
}

variable "cluster_name" {
  description = "GKE cluster this environment deploys to (created when create_cluster is true)."
  type        = string
}

variable "create_cluster" {
  description = "Create a GKE Autopilot cluster; false uses an existing cluster."
  type        = bool
  default     = false
}

variable "network" {
  description = "VPC network of a created cluster and of the database's private address (with private services access)."
  type        = string
  default     = "default"
}

variable "master_authorized_cidrs" {
  description = "Addresses that may reach a created cluster's API (GitHub-hosted runners have no fixed range)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept before it is deleted."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let terraform destroy delete buckets that still hold objects."
  type        = bool
  default     = false
}
{% elif cookiecutter.cloud == "azure" -%}
variable "subscription_id" {
  description = "Azure subscription that holds every resource."
  type        = string
}

variable "location" {
  description = "Azure region of every resource."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of every resource (created with the shared resources)."
  type        = string
}

variable "storage_account_name" {
  description = "Storage account holding one container per environment and the Terraform state (3-24 lowercase letters and digits, unique in Azure)."
  type        = string
}

variable "registry_name" {
  description = "Container registry (<name>.azurecr.io; 5-50 letters and digits, unique in Azure)."
  type        = string
}

variable "registry_sku" {
  description = "Container registry tier: Basic, Standard or Premium (private network, geo-replication)."
  type        = string
  default     = "Standard"
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose Actions may log in as this environment's identity."
  type        = string
}

variable "cluster_name" {
  description = "AKS cluster this environment deploys to (created when create_cluster is true)."
  type        = string
}

variable "cluster_resource_group_name" {
  description = "Resource group of an existing cluster (a created one goes to resource_group_name)."
  type        = string
}

variable "create_cluster" {
  description = "Create an AKS cluster (Entra ID and Azure RBAC, workload identity); false uses an existing cluster with Azure RBAC enabled."
  type        = bool
  default     = false
}

variable "node_vm_size" {
  description = "VM size of a created cluster's nodes."
  type        = string
  default     = "Standard_D2s_v5"
}

variable "node_count" {
  description = "Minimum and maximum nodes of a created cluster (autoscaled)."
  type        = object({ min = number, max = number })
  default     = { min = 1, max = 4 }
}

variable "api_server_authorized_cidrs" {
  description = "Addresses that may reach a created cluster's API (GitHub-hosted runners have no fixed range)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted blob version is kept before it is deleted."
  type        = number
  default     = 90
}
{% endif -%}
