# nocwatch on ECS behind one Network Load Balancer: what the seed ran in four containers
# (Datadog Agent, rsyslog, stone), as one service. See docs/deploy.md#ecs-and-terraform.
#
#   NLB listener             target group (container port)   health check (nocwatch health port)
#   TCP_UDP 514  syslog      TCP_UDP 5514                     TCP 5515 (the UDP source's)
#   TLS     6514 syslog      TCP     5514 (NLB terminates TLS) TCP 5516 (the TCP source's)
#   UDP     162  traps       UDP     9162                     TCP 9163
#   UDP     123  NTP         UDP     1123                     TCP 1124
#
# Every target group: deregistration delay = var.deregistration_delay, connection termination
# on deregistration (moves pinned UDP flows off a stopping task: the seed's "syslog goes to
# the old container after a deploy"), client IP preservation (devices are told apart by
# address), and a TCP health check on the service's own health port, which closes as soon as
# nocwatch drains. DRAIN_PERIOD = deregistration delay + 5 s, stopTimeout covers drain + flush.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
  }
}

locals {
  drain_period_seconds = var.deregistration_delay + 5
  services = {
    syslog = { listener_port = 514, listener_protocol = "TCP_UDP", target_protocol = "TCP_UDP", container_port = 5514, health_port = 5515 }
    syslog_tls = { listener_port = 6514, listener_protocol = "TLS", target_protocol = "TCP", container_port = 5514, health_port = 5516 }
    traps = { listener_port = 162, listener_protocol = "UDP", target_protocol = "UDP", container_port = 9162, health_port = 9163 }
    ntp = { listener_port = 123, listener_protocol = "UDP", target_protocol = "UDP", container_port = 1123, health_port = 1124 }
  }

  # The task definition is deploy/ecs/task-definition.json, with this deployment's image,
  # secrets, devices and drain period put in.
  task      = jsondecode(file("${path.module}/task-definition.json"))
  container = local.task.containerDefinitions[0]
  environment = concat(
    [for variable in local.container.environment : variable if !contains(["IP_ADDRESSES", "DRAIN_PERIOD"], variable.name)],
    [
      { name = "IP_ADDRESSES", value = var.ip_addresses },
      { name = "DRAIN_PERIOD", value = "${local.drain_period_seconds}s" },
    ],
  )
  container_definition = merge(local.container, {
    image       = var.image
    environment = local.environment
    # drain + flush_timeout (10 s) + 10 s before SIGKILL; at most 120 on Fargate.
    stopTimeout = min(local.drain_period_seconds + 20, 120)
    secrets = [
      { name = "DD_API_KEY", valueFrom = aws_secretsmanager_secret.dd_api_key.arn },
      { name = "COMMUNITY_STRING", valueFrom = aws_secretsmanager_secret.community_string.arn },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.nocwatch.name
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = "nocwatch"
      }
    }
  })
}

data "aws_region" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

# ---------------------------------------------------------------- secrets
# Created empty: put the values in with the console or
#   aws secretsmanager put-secret-value --secret-id nocwatch/dd-api-key --secret-string ...
# so they never sit in the Terraform state. ECS injects them as environment variables,
# which the config reads as ${DD_API_KEY} and ${COMMUNITY_STRING}.
resource "aws_secretsmanager_secret" "dd_api_key" {
  name = "${var.name}/dd-api-key"
}

resource "aws_secretsmanager_secret" "community_string" {
  name = "${var.name}/community-string"
}

# ---------------------------------------------------------------- IAM
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "read_secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.dd_api_key.arn, aws_secretsmanager_secret.community_string.arn]
  }
}

resource "aws_iam_role_policy" "read_secrets" {
  name   = "${var.name}-read-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_secrets.json
}

resource "aws_cloudwatch_log_group" "nocwatch" {
  name              = "/ecs/${var.name}"
  retention_in_days = 30
}

# ---------------------------------------------------------------- network
resource "aws_security_group" "tasks" {
  name   = "${var.name}-tasks"
  vpc_id = var.vpc_id

  # Client IP preservation: the devices' own addresses reach the tasks.
  ingress {
    description = "syslog UDP and TCP from the devices"
    from_port   = 5514
    to_port     = 5514
    protocol    = "-1"
    cidr_blocks = var.device_cidrs
  }
  ingress {
    description = "traps from the devices"
    from_port   = 9162
    to_port     = 9162
    protocol    = "udp"
    cidr_blocks = var.device_cidrs
  }
  ingress {
    description = "NTP from the devices"
    from_port   = 1123
    to_port     = 1123
    protocol    = "udp"
    cidr_blocks = var.device_cidrs
  }
  # The NLB's own traffic (TLS-terminated syslog, health checks) comes from its private
  # addresses in the VPC.
  ingress {
    description = "syslog behind the TLS listener, and health checks, from the NLB"
    from_port   = 1123
    to_port     = 9163
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
  egress {
    description = "SNMP polling, ping, Amazon Time Sync, Datadog"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_lb" "nocwatch" {
  name                             = var.name
  load_balancer_type               = "network"
  internal                         = true
  subnets                          = var.subnet_ids
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "service" {
  for_each = local.services

  name                 = "${var.name}-${replace(each.key, "_", "-")}"
  vpc_id               = var.vpc_id
  target_type          = "ip"
  port                 = each.value.container_port
  protocol             = each.value.target_protocol
  preserve_client_ip   = true
  deregistration_delay = var.deregistration_delay

  # At the end of the deregistration delay, drop the stopping task's flows so a device's
  # next datagram goes to a healthy task (UDP flows are otherwise pinned indefinitely).
  connection_termination = true

  health_check {
    protocol            = "TCP"
    port                = tostring(each.value.health_port)
    interval            = var.health_check_interval
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "service" {
  for_each = local.services

  load_balancer_arn = aws_lb.nocwatch.arn
  port              = each.value.listener_port
  protocol          = each.value.listener_protocol
  certificate_arn   = each.value.listener_protocol == "TLS" ? var.syslog_tls_certificate_arn : null
  ssl_policy        = each.value.listener_protocol == "TLS" ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }
}

# ---------------------------------------------------------------- service
resource "aws_ecs_task_definition" "nocwatch" {
  family                   = var.name
  network_mode             = "awsvpc"
  requires_compatibilities = local.task.requiresCompatibilities
  cpu                      = local.task.cpu
  memory                   = local.task.memory
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode([local.container_definition])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "data"
  }
}

resource "aws_ecs_service" "nocwatch" {
  name            = var.name
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.nocwatch.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  # A new task is healthy in every target group before an old one is deregistered.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30

  network_configuration {
    subnets         = var.subnet_ids
    security_groups = [aws_security_group.tasks.id]
  }

  dynamic "load_balancer" {
    for_each = local.services
    content {
      target_group_arn = aws_lb_target_group.service[load_balancer.key].arn
      container_name   = "nocwatch"
      container_port   = load_balancer.value.container_port
    }
  }

  depends_on = [aws_lb_listener.service]
}

output "nlb_dns_name" {
  description = "Point the devices' syslog, trap and NTP settings at this name's addresses."
  value       = aws_lb.nocwatch.dns_name
}
