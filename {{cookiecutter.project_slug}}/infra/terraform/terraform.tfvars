{%- set slug = cookiecutter.project_slug -%}
{%- set envs = cookiecutter.environments.split(",") | map("trim") | list -%}
{%- set compact = slug | replace("-", "") -%}
# Values every environment shares (Terraform reads this file by itself);
# environments/<env>.tfvars adds each environment's own. Names match
# configs/<env>.yaml, deploy/k8s/overlays/<env> and the workflows.
project           = "{{ slug }}"
environments      = [{% for env in envs %}"{{ env }}"{{ ", " if not loop.last }}{% endfor %}]
github_repository = "{{ cookiecutter.github_owner }}/{{ slug }}"
{%- if cookiecutter.cloud == "aws" %}
region            = "eu-west-1"

# The EKS cluster to deploy to (create_cluster = true creates it in subnet_ids).
cluster_name   = "{{ slug }}"
create_cluster = false
# Private subnets in two availability zones or more{% if cookiecutter.prediction_store == "postgres" %}, and their VPC (the database){% endif %}.
subnet_ids = []
{%- if cookiecutter.prediction_store == "postgres" %}
vpc_id     = "vpc-00000000000000000"
{%- endif %}
{%- elif cookiecutter.cloud == "gcp" %}
project_id        = "{{ slug }}"
region            = "europe-west1"

# The GKE cluster to deploy to (create_cluster = true creates an Autopilot cluster).
cluster_name   = "{{ slug }}"
create_cluster = false
network        = "default"
{%- elif cookiecutter.cloud == "azure" %}
subscription_id   = "00000000-0000-0000-0000-000000000000"
location          = "westeurope"

resource_group_name  = "{{ slug }}"
storage_account_name = "{{ (compact ~ "data")[:24] }}"
registry_name        = "{{ (compact ~ "images")[:50] }}"

# The AKS cluster to deploy to (create_cluster = true creates it in resource_group_name).
cluster_name                = "{{ slug }}"
cluster_resource_group_name = "{{ slug }}"
create_cluster              = false
{%- if cookiecutter.prediction_store == "postgres" %}

# The cluster's VNet, and a subnet in it delegated to PostgreSQL flexible servers.
virtual_network_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{{ slug }}/providers/Microsoft.Network/virtualNetworks/{{ slug }}"
database_subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{{ slug }}/providers/Microsoft.Network/virtualNetworks/{{ slug }}/subnets/postgres"
{%- endif %}
{%- endif %}
