-- A host that forbids user namespaces: sandlot must say what is wrong and
-- how to fix it, exit 125, and run nothing.  Simulated by running sandlot
-- inside a bwrap sandbox made with --disable-userns, where creating a
-- user namespace fails as it does under Ubuntu 24.04's AppArmor restriction.
local H = require("helpers")

for _, who in ipairs(H.users()) do
  describe("without user namespaces, as " .. who, function()
    it("explains the cause, exits 125 and runs nothing", function()
      local work = H.tmpdir()
      local dir = H.tmpdir()
      local inner = ("bwrap --ro-bind / / --dev /dev --proc /proc --bind %s %s --unshare-user "
                     .. "--unshare-pid --disable-userns -- %s run --work %s -- sh -c %s")
        :format(H.q(work), H.q(work), H.q(H.bin_dir() .. "/sandlot"), H.q(work),
                H.q("touch /work/marker"))
      local cmd = inner
      if who == "nobody" then
        cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- " .. inner
      end
      local _, _, code = os.execute(("%s >%s/out 2>%s/err"):format(cmd, H.q(dir), H.q(dir)))
      local err = H.read(dir .. "/err")
      assert.are.equal(125, code, err)
      assert.matches("sandlot: user namespaces are unavailable here: "
                     .. "unshare%(CLONE_NEWUSER%) was refused", err)
      assert.matches("fix: allow unprivileged user namespaces", err)
      assert.is_false(H.exists(work .. "/marker"), "the command ran")
    end)
  end)
end
