import type { FastifyInstance } from 'fastify';
import type { Core } from '../../service/core.js';

type UserParams = { Params: { user: string } };
type RoleParams = { Params: { role: string } };

export function registerUserRoutes(app: FastifyInstance, core: Core): void {
  const users = core.users;

  app.get('/appmesh/users', async (request) => users.list(await request.principal()));
  app.get('/appmesh/user/self', async (request) => users.self(await request.principal()));
  app.get('/appmesh/user/permissions', async (request) => users.userPermissions(await request.principal()));
  app.get('/appmesh/user/groups', async (request) => users.groups(await request.principal()));
  app.get('/appmesh/permissions', async (request) => users.permissions(await request.principal()));
  app.get('/appmesh/roles', async (request) => users.roles(await request.principal()));

  app.put<UserParams>('/appmesh/user/:user', async (request) => ({ message: await users.put(await request.principal(), request.params.user.trim(), request.body) }));
  app.delete<UserParams>('/appmesh/user/:user', async (request) => ({ message: await users.remove(await request.principal(), request.params.user.trim()) }));
  app.post<UserParams>('/appmesh/user/:user/lock', async (request) => ({ message: await users.setLocked(await request.principal(), request.params.user.trim(), true) }));
  app.post<UserParams>('/appmesh/user/:user/unlock', async (request) => ({ message: await users.setLocked(await request.principal(), request.params.user.trim(), false) }));
  app.post<UserParams>('/appmesh/user/:user/passwd', async (request) => ({ message: await users.changePassword(await request.principal(), request.params.user.trim(), request.body) }));

  app.post<RoleParams>('/appmesh/role/:role', async (request) => ({ message: await users.setRole(await request.principal(), request.params.role.trim(), request.body) }));
  app.delete<RoleParams>('/appmesh/role/:role', async (request) => ({ message: await users.removeRole(await request.principal(), request.params.role.trim()) }));
}
