// The plugin form: the image stages in a shared library that `mpipe run` loads (the spec's
// `plugins:`). It links mpipe::plugin only: the registry it fills is the mpipe binary's.
#include "register.hpp"

MPIPE_PLUGIN(registry) { image::register_stages(registry); }
