// json-c, the JSON parser under esmarket's decoder (Debian: libjson-c-dev).
#include <json-c/json.h>
