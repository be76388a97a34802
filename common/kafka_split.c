// SPDX-License-Identifier: Apache-2.0
// A Kafka partition's name as a split of the kafka source: "TOPIC/PARTITION".
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"

void
rl_kafka_split_id(const char *topic, int32_t partition, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%" PRId32, topic, partition);
}

bool
rl_kafka_split_parse(const char *id, char *topic, size_t len, int32_t *ret_partition)
{
	const char *slash = strrchr(id, '/');
	if (slash == NULL || slash == id || (size_t)(slash - id) >= len)
		return false;
	const char *digits = slash + 1;
	if (*digits < '0' || *digits > '9')
		return false;
	char *end;
	long  partition = strtol(digits, &end, 10);
	if (*end != '\0' || partition > INT32_MAX || (digits[0] == '0' && digits[1] != '\0'))
		return false;
	memcpy(topic, id, (size_t)(slash - id));
	topic[slash - id] = '\0';
	*ret_partition = (int32_t)partition;
	return true;
}
