/* A library someone else planted (issue 22): its constructor runs the moment it is loaded, before
 * the host can tell it is not a plugin, and leaves a file behind, so that a test observes "loaded"
 * instead of inferring it. The file is $SHMFRAME_PLANTED_MARKER. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void planted(void) {
  const char* marker = getenv("SHMFRAME_PLANTED_MARKER");
  if (marker == NULL) return;
  int fd = open(marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)write(fd, "loaded\n", 7);
  close(fd);
}
