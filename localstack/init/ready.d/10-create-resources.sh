#!/usr/bin/env bash
# Creates the table and queues the stack uses, with the names the local
# stack defaults to (TABLE_NAME=orders-local, TIMER_QUEUE_NAME=offer-timers-local).
# Keep in step with shared/src/aws/resources.rs (ensure_table, ensure_queue)
# and the infra template.
set -euo pipefail
TABLE=${TABLE_NAME:-orders-local}
QUEUE=${TIMER_QUEUE_NAME:-offer-timers-local}

awslocal dynamodb create-table \
  --table-name "$TABLE" \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
  --billing-mode PAY_PER_REQUEST
awslocal dynamodb update-time-to-live \
  --table-name "$TABLE" \
  --time-to-live-specification Enabled=true,AttributeName=ttl

DLQ_URL=$(awslocal sqs create-queue --queue-name "$QUEUE-dlq" --query QueueUrl --output text)
DLQ_ARN=$(awslocal sqs get-queue-attributes --queue-url "$DLQ_URL" --attribute-names QueueArn --query Attributes.QueueArn --output text)
awslocal sqs create-queue --queue-name "$QUEUE" --attributes "{\"VisibilityTimeout\":\"60\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$DLQ_ARN\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\"}"
echo "created table $TABLE and queues $QUEUE, $QUEUE-dlq"
