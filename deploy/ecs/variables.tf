# Inputs of the nocwatch ECS + NLB example (deploy/ecs/main.tf). See docs/deploy.md#ecs-and-terraform.

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "nocwatch"
}

variable "vpc_id" {
  description = "The VPC the tasks and the NLB live in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the NLB and the tasks (the devices reach them over Direct Connect / VPN)."
  type        = list(string)
}

variable "device_cidrs" {
  description = "Where the devices send from (UDP 514/162/123, TCP 514/6514). The NLB keeps their addresses."
  type        = list(string)
}

variable "cluster_arn" {
  description = "The ECS cluster to run the service in."
  type        = string
}

variable "image" {
  description = "The nocwatch image (built from the repository's Dockerfile), e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/nocwatch:0.1.0."
  type        = string
}

variable "desired_count" {
  description = "Tasks behind the NLB. Each one also polls and pings every device in IP_ADDRESSES: above 1, split pollers from receivers (docs/scale-out.md)."
  type        = number
  default     = 1
}

variable "ip_addresses" {
  description = "The devices, comma-separated: the seed's IP_ADDRESSES."
  type        = string
}

variable "syslog_tls_certificate_arn" {
  description = "ACM certificate for the TLS syslog listener (6514). The NLB terminates TLS and forwards plain TCP to nocwatch."
  type        = string
}

variable "deregistration_delay" {
  description = "Seconds a deregistering task keeps its flows. nocwatch's shutdown.drain_period is set 5 s longer (DRAIN_PERIOD)."
  type        = number
  default     = 15
}

variable "health_check_interval" {
  description = "Seconds between the NLB's TCP health checks of each service's health port."
  type        = number
  default     = 5
}
