/* The two ways appmesh-launch runs: as a run's launcher, and as the daemon's fork server. */
#ifndef APPMESH_LAUNCH_STEPS_H
#define APPMESH_LAUNCH_STEPS_H

/* The launcher's steps for argv (argv[0] is the program's name), ending in the command's exec. */
int launch_main(int argc, char **argv);

/* Serves the daemon's starts on stdin/stdout until stdin ends; returns the exit status. */
int fork_server(void);

#endif
