/* jansson helpers: see json.h. */
#include "json.h"

int bw_json_check_shape(const char *text, size_t len, size_t max_values, size_t max_depth,
			struct bw_error *err)
{
	size_t i = 0, values = 0, depth = 0;
	char ch;

	while (i < len) {
		ch = text[i++];
		switch (ch) {
		case '"':
			/* to the closing quote, skipping escaped characters */
			while (i < len && text[i] != '"')
				i += text[i] == '\\' ? 2 : 1;
			i++;
			values++;
			break;
		case '{':
		case '[':
			values++;
			if (++depth > max_depth)
				return bw_error_set(err, BW_ETOOBIG,
						    "JSON nested deeper than %zu levels",
						    max_depth);
			break;
		case '}':
		case ']':
			if (depth)
				depth--;
			break;
		default:
			if (ch != '-' && ch != 't' && ch != 'f' && ch != 'n' &&
			    (ch < '0' || ch > '9'))
				break; /* blanks, ':' and ',' (or bad JSON: the parser's to say) */
			/* a number or a literal: to its end */
			while (i < len && ((text[i] >= '0' && text[i] <= '9') ||
					   (text[i] >= 'a' && text[i] <= 'z') || text[i] == '.' ||
					   text[i] == '+' || text[i] == '-' || text[i] == 'E'))
				i++;
			values++;
			break;
		}
		if (values > max_values)
			return bw_error_set(err, BW_ETOOBIG,
					    "JSON with more than %zu values (object keys included)",
					    max_values);
	}
	return 0;
}

const json_t *bw_json_get(const json_t *obj, const char *key)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

const char *bw_json_type_name(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}
