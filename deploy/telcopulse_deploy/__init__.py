"""TelcoPulse on AWS: one CDK construct per concern, composed into independently deployable stacks."""
